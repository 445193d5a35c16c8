"""Soak: a backlog of 2,000 one-page letters drains with flat memory.

    .venv/bin/python -m benchmarks.soak                       # both deployments
    .venv/bin/python -m benchmarks.soak --documents 500 --deployment embedded

For each deployment (the embedded default; private RabbitMQ + PostgreSQL + S3, see
:mod:`benchmarks.drills.services`) a fresh ``mailroom up`` with two workers is started, the
whole backlog is dropped into a hot folder at once, and the clock runs until the last
letter is finished. Every process's resident memory (supervisor, workers, watcher) is
sampled throughout; printed are pages per minute and, per process, its memory once the
first tenth of the backlog was done (warm: Tesseract, the router and the caches loaded)
and at the end. The target: the last within 10 % of the first for every process.

The letters are the top third of rendered A4 letters at 300 dpi (letterhead, address,
subject, the first lines): real OCR at about a second a page, so that 2,000 documents
drain in minutes. Each file differs in a few pixels, so none is a duplicate of another.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from benchmarks.corpus import make_ocr_corpus
from benchmarks.drills.catalogue import BOTH, start_deployment
from benchmarks.drills.letters import drop
from benchmarks.drills.stack import Mailroom
from mailroom.core.states import DocumentState as S
from mailroom.demo.scanfiles import png_bytes
from mailroom.infra.db.database import Database
from mailroom.infra.db.models import Document

DONE = (S.ROUTED, S.REVIEW, S.FAILED, S.QUARANTINED, S.DUPLICATE)
SAMPLE_SECONDS = 5.0
#: The largest growth from the warm sample to the last that counts as flat.
FLAT = 0.10


def letters(count: int, folder: Path) -> list[Path]:
    """``count`` distinct one-page letters (PNG), from 24 rendered pages."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = [image[: image.shape[0] // 3] for image, _t, _d in make_ocr_corpus(24, seed=5)]
    paths = []
    for index in range(count):
        image = pages[index % len(pages)].copy()
        # A serial number in the bottom-right corner, one bit per pixel pair.
        bits = np.array([(index >> b) & 1 for b in range(16)], dtype=np.uint8)
        image[-4:-2, -40:-8] = np.repeat(bits * 255, 2)[None, :]
        path = folder / f"soak-{index:05d}.png"
        path.write_bytes(png_bytes(image))
        paths.append(path)
    return paths


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Samples:
    """Resident memory per process name, sampled as the backlog drains."""

    by_name: dict[str, list[tuple[float, int]]] = field(default_factory=dict)

    def take(self, mailroom: Mailroom, progress: float) -> None:
        assert mailroom.process is not None
        processes = {mailroom.process.pid: "supervisor", **mailroom.descendants()}
        for pid, name in processes.items():
            if name != "supervisor" and not name.startswith("mr-"):
                continue  # tesseract, pdftoppm: short-lived children
            kib = rss_kib(pid)
            if kib is not None:
                self.by_name.setdefault(name, []).append((progress, kib))

    def report(self) -> list[tuple[str, int, int, float]]:
        """(process, warm KiB, last KiB, growth) for every process."""
        rows = []
        for name, samples in sorted(self.by_name.items()):
            warm = next((kib for progress, kib in samples if progress >= 0.1), samples[0][1])
            last = samples[-1][1]
            rows.append((name, warm, last, (last - warm) / warm))
        return rows


def soak(kind: str, documents: int, work: Path) -> bool:
    deployment = start_deployment(kind, work)
    try:
        mailroom = Mailroom(deployment, f"soak_{kind}", workers=2)
        mailroom.migrate()
        mailroom.start()
        try:
            return _drain(mailroom, letters(documents, work / "letters"), kind)
        finally:
            mailroom.stop()
    finally:
        deployment.close()


def _drain(mailroom: Mailroom, files: list[Path], kind: str) -> bool:
    db = Database(mailroom.settings().db_url)
    samples = Samples()
    samples.take(mailroom, 0.0)
    started = time.monotonic()
    for path in files:
        drop(path, mailroom.hot_folder, path.name)
    dropped = time.monotonic() - started
    done, next_sample = 0, started
    while done < len(files):
        time.sleep(1.0)
        with db.session() as session:
            done = int(
                session.scalar(
                    select(func.count()).select_from(Document).where(Document.state.in_(DONE))
                )
                or 0
            )
        if time.monotonic() >= next_sample:
            samples.take(mailroom, done / len(files))
            next_sample = time.monotonic() + SAMPLE_SECONDS
        if not mailroom.alive():
            print(f"{kind}: mailroom died; see {mailroom.log_path}", file=sys.stderr)
            return False
    seconds = time.monotonic() - started
    samples.take(mailroom, 1.0)
    with db.session() as session:
        states = dict(
            session.execute(select(Document.state, func.count()).group_by(Document.state)).all()
        )
    db.dispose()
    print(f"\n{kind}: {len(files)} one-page letters in {seconds:.0f} s "
          f"(dropped in {dropped:.0f} s): {len(files) / seconds * 60:.0f} pages per minute; "
          f"states {states}")  # fmt: skip
    flat = True
    print("| process | warm RSS MiB | last RSS MiB | growth |")
    print("|---|---|---|---|")
    for name, warm, last, growth in samples.report():
        flat &= growth <= FLAT
        print(f"| {name} | {warm / 1024:.0f} | {last / 1024:.0f} | {growth:+.1%} |")
    print(f"{kind}: memory {'flat' if flat else 'NOT flat'} (limit {FLAT:+.0%})")
    return flat and states.get(S.ROUTED, 0) + states.get(S.REVIEW, 0) == len(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--deployment", choices=BOTH, action="append")
    args = parser.parse_args()
    ok = True
    for kind in args.deployment or BOTH:
        with tempfile.TemporaryDirectory(prefix="mailroom-soak-") as work:
            ok &= soak(kind, args.documents, Path(work))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
