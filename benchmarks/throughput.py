"""Pages per minute through the whole pipeline, hot folder to stored result.

    .venv/bin/python -m benchmarks.throughput --pages 24

For 1 and 2 worker processes: a fresh embedded mailroom (watcher + N workers) is started,
all pages are dropped into scan line 1 at once as single-page PNG scans, and the clock
stops when the last document is committed (routed or review). Compared on the same
pages with the raw ``tesseract`` command (text only, N in parallel, one thread each) and
with OCRmyPDF producing a searchable PDF (``--deskew --rotate-pages -l deu --jobs N``),
if it is installed (``scripts/setup.sh --bench``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine, func, select

from benchmarks.corpus import make_ocr_corpus
from mailroom.samples.scan import pdf_bytes, png_bytes
from storage import models

ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}


def raw_tesseract(files: list[Path], parallel: int, out: Path) -> float:
    """Seconds for the ``tesseract`` command on every file, ``parallel`` at a time."""

    def one(path: Path) -> None:
        subprocess.run(
            ["tesseract", str(path), str(out / path.stem), "-l", "deu"],
            env=ENV,
            check=True,
            capture_output=True,
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - started


def ocrmypdf(files: list[Path], parallel: int, out: Path) -> float | None:
    exe = shutil.which("ocrmypdf") or str(Path(sys.executable).parent / "ocrmypdf")
    if not Path(exe).exists():
        return None
    from PIL import Image

    pdf = out / "all.pdf"
    import numpy as np

    pdf.write_bytes(pdf_bytes([np.asarray(Image.open(f)) for f in files]))
    started = time.perf_counter()
    subprocess.run(
        [
            exe,
            "--deskew",
            "--rotate-pages",
            "-l",
            "deu",
            "--jobs",
            str(parallel),
            "--output-type",
            "pdf",
            "--quiet",
            str(pdf),
            str(out / "ocr.pdf"),
        ],
        env=ENV,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def pipeline(files: list[Path], workers: int, work: Path) -> tuple[float, float]:
    """(wall seconds from drop to last commit, mean processing seconds per document)."""
    data = work / f"data-{workers}"
    env = {k: v for k, v in ENV.items() if not k.startswith("MAILROOM_")}
    env.update(
        MAILROOM_DATA_DIR=str(data),
        MAILROOM_INTAKE_STABLE_SECONDS="0.2",
        MAILROOM_INTAKE_POLL_SECONDS="0.2",
    )
    run = [sys.executable, "-m", "mailroom"]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True)
    procs = [
        subprocess.Popen(
            [*run, "watch"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
    ]
    procs += [
        subprocess.Popen(
            [*run, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(workers)
    ]
    engine = create_engine(f"sqlite:///{(data / 'mailroom.db').resolve()}")
    try:
        time.sleep(4)  # let the workers load Tesseract and the router
        hot = data / "scanlines" / "scan-1"
        hot.mkdir(parents=True, exist_ok=True)
        started = time.time()
        for f in files:
            tmp = hot / f".{f.name}.part"
            shutil.copy(f, tmp)
            tmp.rename(hot / f.name)
        finished = (
            models.DocumentState.ROUTED,
            models.DocumentState.REVIEW,
            models.DocumentState.FAILED,
            models.DocumentState.QUARANTINED,
        )
        while True:
            with engine.connect() as conn:
                done = conn.scalar(
                    select(func.count())
                    .select_from(models.Document)
                    .where(models.Document.state.in_(finished))
                )
            if done == len(files):
                break
            time.sleep(0.2)
        with engine.connect() as conn:
            last = conn.scalar(select(func.max(models.Document.processed_at)))
            mean = conn.scalar(select(func.avg(models.Document.processing_seconds)))
        assert last is not None
        return last.timestamp() - started, float(mean or 0)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = make_ocr_corpus(args.pages, seed=args.seed)
        files = []
        for i, (image, _truth, _desc) in enumerate(corpus):
            path = work / f"page-{i:03d}.png"
            path.write_bytes(png_bytes(image))
            files.append(path)
        n = len(files)
        print(f"{n} pages, 300 dpi A4, degraded (turned, skewed, noisy), {os.cpu_count()} cores")
        rows = []
        for parallel in (1, 2):
            out = work / f"raw{parallel}"
            out.mkdir()
            raw = raw_tesseract(files, parallel, out)
            wall, mean = pipeline(files, parallel, work)
            om_out = work / f"om{parallel}"
            om_out.mkdir()
            om = ocrmypdf(files, parallel, om_out)
            rows.append((parallel, raw, wall, mean, om))
        print(
            f"{'procs':>5} {'tesseract p/min':>16} {'mailroom p/min':>15} "
            f"{'overhead':>9} {'s/doc':>6} {'ocrmypdf p/min':>15} {'vs ocrmypdf':>12}"
        )
        for parallel, raw, wall, mean, om in rows:
            om_rate = f"{60 * n / om:15.1f}" if om else f"{'n/a':>15}"
            ratio = f"{om / wall:11.1f}x" if om else f"{'n/a':>12}"
            print(
                f"{parallel:>5} {60 * n / raw:16.1f} {60 * n / wall:15.1f} "
                f"{wall / raw:8.2f}x {mean:6.2f} {om_rate} {ratio}"
            )
        one, two = rows[0][2], rows[1][2]
        print(f"scaling: 2 workers give {one / two:.2f}x the pages per minute of 1")


if __name__ == "__main__":
    main()
