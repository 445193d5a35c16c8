"""Seconds per page: raw ``tesseract`` vs this pipeline vs OCRmyPDF, one process each.

    .venv/bin/python -m benchmarks.ocr_speed --pages 10

The pipeline is measured from the scanner file's bytes to the finished searchable PDF
(rasterize + prepare + recognise + merge), once from PNG and once from an image-only PDF.
Raw Tesseract reads the same PNG and writes only text. OCRmyPDF (``--deskew
--rotate-pages -l deu --jobs 1``) reads the same pages as one image-only PDF.

Every figure is given twice: wall-clock seconds and CPU seconds (this process plus its
child processes). On a machine shared with other jobs the wall clock swings by 20 %; the
CPU seconds are what the ratios are computed from.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.corpus import make_ocr_corpus
from mailroom.core.media import sniff_media_type
from mailroom.demo.scan import pdf_bytes, png_bytes
from mailroom.infra.tesseract import TesseractEngine
from workers.preprocess import prepare_page
from workers.rasterize import rasterize
from workers.recognize import recognize_page
from workers.searchable_pdf import build_searchable_pdf

ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}
STAGES = ("rasterize", "prepare", "recognize", "pdf")


def clock() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its finished children)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), time.process_time() + children.ru_utime + children.ru_stime


def since(mark: tuple[float, float]) -> tuple[float, float]:
    now = clock()
    return now[0] - mark[0], now[1] - mark[1]


def raw_seconds(path: Path) -> tuple[float, float]:
    mark = clock()
    subprocess.run(
        ["tesseract", str(path), "stdout", "-l", "deu"], capture_output=True, env=ENV, check=True
    )
    return since(mark)


def pipeline_seconds(data: bytes, engine: TesseractEngine) -> dict[str, tuple[float, float]]:
    """Per-stage (wall, CPU) seconds for one file through the pipeline."""
    times: dict[str, tuple[float, float]] = {}
    started = mark = clock()
    pages = rasterize(data, sniff_media_type(data), dpi=300, max_pixels=120_000_000, max_pages=9)
    times["rasterize"] = since(mark)
    mark = clock()
    prepared = [prepare_page(page) for page in pages]
    times["prepare"] = since(mark)
    mark = clock()
    done = [recognize_page(page, engine) for page in prepared]
    times["recognize"] = since(mark)
    mark = clock()
    build_searchable_pdf([p for p, _ in done], [r for _, r in done])
    times["pdf"] = since(mark)
    times["total"] = since(started)
    return times


def ocrmypdf_seconds(pdf: Path, out: Path) -> tuple[float, float]:
    mark = clock()
    subprocess.run(
        ["ocrmypdf", "--rotate-pages", "--deskew", "-l", "deu", "--jobs", "1", "--quiet",
         str(pdf), str(out)],
        check=True,
        env={**ENV, "PATH": f"{Path('.venv/bin').resolve()}:{os.environ['PATH']}"},
    )  # fmt: skip
    return since(mark)


def _mean(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.mean(p[0] for p in pairs), statistics.mean(p[1] for p in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--skip-ocrmypdf", action="store_true")
    args = parser.parse_args()

    corpus = make_ocr_corpus(args.pages, seed=args.seed)
    engine = TesseractEngine(language="deu")
    raw: list[tuple[float, float]] = []
    stages: dict[str, dict[str, list[tuple[float, float]]]] = {
        "png": defaultdict(list),
        "pdf": defaultdict(list),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for index, (image, _, _) in enumerate(corpus):
            png = png_bytes(image)
            path = Path(tmp) / f"page{index}.png"
            path.write_bytes(png)
            raw.append(raw_seconds(path))
            for kind, data in (("png", png), ("pdf", pdf_bytes([image]))):
                for stage, seconds in pipeline_seconds(data, engine).items():
                    stages[kind][stage].append(seconds)
        raw_wall, raw_cpu = _mean(raw)
        print(f"{len(corpus)} pages, one process, OMP_THREAD_LIMIT=1; seconds per page, wall / CPU")
        print(f"raw tesseract (PNG -> text)          {raw_wall:5.2f} / {raw_cpu:5.2f}")
        for kind, times in stages.items():
            wall, cpu = _mean(times["total"])
            detail = "  ".join(f"{stage} {_mean(times[stage])[1]:.3f}" for stage in STAGES)
            print(
                f"pipeline ({kind} -> searchable PDF)   {wall:5.2f} / {cpu:5.2f}  "
                f"= {cpu / raw_cpu:.2f}x raw CPU   (CPU: {detail})"
            )
        if not args.skip_ocrmypdf:
            pdf = Path(tmp) / "all.pdf"
            pdf.write_bytes(pdf_bytes([image for image, _, _ in corpus]))
            wall, cpu = ocrmypdf_seconds(pdf, Path(tmp) / "out.pdf")
            wall, cpu = wall / len(corpus), cpu / len(corpus)
            ours_wall, ours_cpu = _mean(stages["pdf"]["total"])
            print(
                f"ocrmypdf --deskew --rotate-pages      {wall:5.2f} / {cpu:5.2f}  "
                f"(pipeline on PDF input: {wall / ours_wall:.1f}x the pages per minute, "
                f"{cpu / ours_cpu:.1f}x less CPU)"
            )


if __name__ == "__main__":
    main()
