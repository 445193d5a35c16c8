"""Pages per minute through the whole pipeline, hot folder to stored result.

    .venv/bin/python -m benchmarks.throughput --pages 48

For 1 and 2 worker processes: a fresh embedded mailroom (watcher + N workers) is started,
and once every process is ready (workers have loaded Tesseract and the router) all pages
are dropped into scan line 1 at once as single-page PNG scans; the clock stops when the
last document is committed (routed or review). Raw Tesseract and mailroom take turns for
``--rounds`` rounds and the faster round of each counts (the machine's speed drifts).
Compared on the same pages with the raw ``tesseract`` command (text only, N in parallel,
one thread each) and with OCRmyPDF producing a searchable PDF (``--deskew --rotate-pages
-l deu --jobs N``, one round), if it is installed (``scripts/setup.sh --bench``). CPU
seconds per page are printed too: the OCR programs (Tesseract), the worker processes
themselves and the watcher.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, select

from benchmarks.corpus import make_ocr_corpus
from mailroom.core import states
from mailroom.demo.scan import pdf_bytes, png_bytes
from mailroom.infra.db import models

ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own, waited-for children) CPU seconds of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(f) / tick for f in fields[11:15])
    return utime + stime, cutime + cstime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def raw_tesseract(files: list[Path], parallel: int, out: Path) -> tuple[float, float]:
    """(wall, CPU) seconds for the ``tesseract`` command on every file, ``parallel`` at a time."""

    def one(path: Path) -> None:
        subprocess.run(
            ["tesseract", str(path), str(out / path.stem), "-l", "deu"],
            env=ENV,
            check=True,
            capture_output=True,
        )

    started, cpu = time.perf_counter(), children_cpu()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - started, children_cpu() - cpu


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


def wait_for_lines(
    logs: list[Path], words: list[str], procs: list[subprocess.Popen[bytes]], timeout: float = 120
) -> None:
    """Wait until each log holds its word (each process has started up)."""
    deadline = time.monotonic() + timeout
    while not all(w in log.read_text(errors="replace") for log, w in zip(logs, words, strict=True)):
        failed = [p.args for p in procs if p.poll() is not None]
        if failed or time.monotonic() > deadline:
            raise SystemExit(f"mailroom did not start: {failed or 'timeout'}; see {logs}")
        time.sleep(0.2)
    time.sleep(1)  # the processes' first polls


@dataclass
class PipelineRun:
    wall: float  # seconds from the drop to the last commit
    mean: float  # mean processing seconds per document, as the workers recorded them
    watcher_cpu: float  # CPU seconds of the watcher process
    worker_cpu: float  # CPU seconds of the worker processes themselves
    ocr_cpu: float  # CPU seconds of the programs they ran (Tesseract, Poppler)


def pipeline(files: list[Path], workers: int, work: Path, tag: str) -> PipelineRun:
    """Drop ``files`` into a fresh embedded mailroom with ``workers`` workers; time it."""
    data = work / f"data-{tag}"
    env = {k: v for k, v in ENV.items() if not k.startswith("MAILROOM_")}
    env.update(
        MAILROOM_DATA_DIR=str(data),
        MAILROOM_INTAKE_STABLE_SECONDS="0.2",
        MAILROOM_INTAKE_POLL_SECONDS="0.2",
    )
    run = [sys.executable, "-m", "mailroom"]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True)
    logs = [
        work / f"watch-{tag}.log",
        *(work / f"worker-{tag}-{i}.log" for i in range(workers)),
    ]
    commands = [[*run, "watch"]] + [[*run, "worker"]] * workers
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
        for command, log in zip(commands, logs, strict=True)
    ]
    engine = create_engine(f"sqlite:///{(data / 'mailroom.db').resolve()}")
    try:
        # Start the clock only when the watcher watches and every worker has loaded
        # Tesseract and the router (they log "consuming" then).
        wait_for_lines(logs, ["watching", *["consuming"] * workers], procs)
        before = [cpu_seconds(p.pid) for p in procs]
        hot = data / "scanlines" / "scan-1"
        hot.mkdir(parents=True, exist_ok=True)
        started = time.time()
        for f in files:
            tmp = hot / f".{f.name}.part"
            shutil.copy(f, tmp)
            tmp.rename(hot / f.name)
        finished = (
            states.DocumentState.ROUTED,
            states.DocumentState.REVIEW,
            states.DocumentState.FAILED,
            states.DocumentState.QUARANTINED,
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
        after = [cpu_seconds(p.pid) for p in procs]
        used = [(a[0] - b[0], a[1] - b[1]) for a, b in zip(after, before, strict=True)]
        with engine.connect() as conn:
            last = conn.scalar(select(func.max(models.Document.processed_at)))
            mean = conn.scalar(select(func.avg(models.Document.processing_seconds)))
        assert last is not None
        return PipelineRun(
            wall=last.timestamp() - started,
            mean=float(mean or 0),
            watcher_cpu=used[0][0] + used[0][1],
            worker_cpu=sum(own for own, _ in used[1:]),
            ocr_cpu=sum(children for _, children in used[1:]),
        )
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
    parser.add_argument("--skip-ocrmypdf", action="store_true")
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating rounds of raw and mailroom; best kept"
    )
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
        rows: list[tuple[int, float, PipelineRun, float | None]] = []
        cpu: list[tuple[int, float, PipelineRun]] = []
        for parallel in (1, 2):
            # Alternate raw Tesseract and mailroom; keep the faster round of each. The
            # speed of a shared machine drifts by several per cent from minute to minute.
            raws: list[tuple[float, float]] = []
            runs: list[PipelineRun] = []
            for round_ in range(args.rounds):
                out = work / f"raw{parallel}-{round_}"
                out.mkdir()
                raws.append(raw_tesseract(files, parallel, out))
                runs.append(pipeline(files, parallel, work, f"{parallel}-{round_}"))
            if args.rounds > 1:
                print(
                    f"{parallel} worker(s), pages per minute by round: raw tesseract "
                    + " / ".join(f"{60 * n / wall:.1f}" for wall, _ in raws)
                    + ", mailroom "
                    + " / ".join(f"{60 * n / r.wall:.1f}" for r in runs)
                )
            raw, raw_cpu = min(raws)
            run = min(runs, key=lambda r: r.wall)
            om_out = work / f"om{parallel}"
            om_out.mkdir()
            om = None if args.skip_ocrmypdf else ocrmypdf(files, parallel, om_out)
            rows.append((parallel, raw, run, om))
            cpu.append((parallel, raw_cpu, run))
        print(
            f"{'procs':>5} {'tesseract p/min':>16} {'mailroom p/min':>15} "
            f"{'overhead':>9} {'s/doc':>6} {'ocrmypdf p/min':>15} {'vs ocrmypdf':>12}"
        )
        for parallel, raw, run, om in rows:
            om_rate = f"{60 * n / om:15.1f}" if om else f"{'n/a':>15}"
            ratio = f"{om / run.wall:11.1f}x" if om else f"{'n/a':>12}"
            print(
                f"{parallel:>5} {60 * n / raw:16.1f} {60 * n / run.wall:15.1f} "
                f"{run.wall / raw:8.2f}x {run.mean:6.2f} {om_rate} {ratio}"
            )
        one, two = rows[0][2].wall, rows[1][2].wall
        print(f"scaling: 2 workers give {one / two:.2f}x the pages per minute of 1")
        print("CPU seconds per page (all processes):")
        print(
            f"{'procs':>5} {'raw tesseract':>14} {'mailroom':>9} {'ratio':>6} "
            f"{'= OCR programs':>15} {'+ workers':>10} {'+ watcher':>10}"
        )
        for parallel, raw_cpu, run in cpu:
            total = run.ocr_cpu + run.worker_cpu + run.watcher_cpu
            print(
                f"{parallel:>5} {raw_cpu / n:14.3f} {total / n:9.3f} {total / raw_cpu:5.2f}x "
                f"{run.ocr_cpu / n:15.3f} {run.worker_cpu / n:10.3f} {run.watcher_cpu / n:10.3f}"
            )


if __name__ == "__main__":
    main()
