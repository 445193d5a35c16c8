"""Scanner borders and punch holes: OCR quality with and without their removal, and its cost.

    .venv/bin/python -m benchmarks.cleanup --pages 16 --jobs 2

Every page is a corpus letter degraded as ``benchmarks.corpus`` degrades that page (turned,
skewed, blurred, noisy, JPEG, grey paper, stamps, notes), made twice: as it is, and with a
dark scanner border (2-7 mm) and two punch holes added (``degrade(border=..., punch_holes=True)``;
both draw on random streams of their own, so everything else about the page is the same).
Three readings with this pipeline (prepare + Tesseract), scored like ``benchmarks.ocr_quality``:

* the page without border and holes (what the cleanup should get back to),
* the page with border and holes, ``prepare_page(..., clean_edges=False)``,
* the page with border and holes, cleaned (the default).

The cost of the cleanup is timed on its own: ``remove_scan_edges`` on the 300 dpi page and
its 150 dpi analysis copy, for the pages with and without border and holes (on the latter
it searches and finds nothing), and whole ``prepare_page`` calls with and without it.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

import cv2
import numpy as np

from benchmarks.corpus import corpus_page, degradation, describe, letter_texts
from benchmarks.ocr_quality import Score
from mailroom.core.domain import GrayImage, PageImage
from mailroom.infra.tesseract import TesseractEngine
from workers.preprocess import ANALYSIS_DPI, normalise_resolution, prepare_page
from workers.recognize import recognize_page
from workers.scan_edges import remove_scan_edges

_ENGINE: TesseractEngine | None = None


def make_pages(n: int, seed: int) -> list[tuple[GrayImage, GrayImage, str, str]]:
    """(page, same page with border and holes, ground truth, description) for ``n`` letters."""
    rng = np.random.default_rng(seed)
    pages = []
    for index, lines in enumerate(letter_texts(n, seed)):
        page_seed = int(rng.integers(1 << 30))
        settings = degradation(index, rng)
        border = float(np.random.default_rng([page_seed, 6]).uniform(2, 7))
        edges = {"border": border, "punch_holes": True}
        plain, truth = corpus_page(lines, page_seed, settings)
        dirty, _ = corpus_page(lines, page_seed, settings | edges)
        pages.append((plain, dirty, truth, f"#{index} {describe(settings | edges)}"))
    return pages


def read(job: tuple[GrayImage, bool]) -> str:
    """Prepare (cleanup on or off) and recognise one page; one engine per process."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = TesseractEngine(language="deu")
    image, clean_edges = job
    prepared = prepare_page(PageImage(1, image, 300), clean_edges=clean_edges)
    return recognize_page(prepared, _ENGINE)[1].text


def score(name: str, texts: list[str], pages: list[tuple[GrayImage, GrayImage, str, str]]) -> Score:
    result = Score(name)
    for text, (_, _, truth, description) in zip(texts, pages, strict=True):
        result.add(truth, text, description)
    return result


def cleanup_ms(image: GrayImage) -> tuple[float, bool]:
    """Milliseconds of ``remove_scan_edges`` on one page (best of 3), and whether it found any."""
    page, dpi = normalise_resolution(image, 300)
    page = np.asarray(cv2.medianBlur(page, 3), dtype=np.uint8)
    factor = ANALYSIS_DPI / dpi  # the analysis copy, as prepare_page makes it
    small = np.asarray(
        cv2.resize(page, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA), dtype=np.uint8
    )
    best, found = float("inf"), False
    for _ in range(3):
        started = time.perf_counter()
        _, _, edges = remove_scan_edges(page, small, ANALYSIS_DPI)
        best = min(best, 1000 * (time.perf_counter() - started))
        found = edges.found
    return best, found


def prepare_ms(image: GrayImage, clean_edges: bool) -> float:
    started = time.perf_counter()
    prepare_page(PageImage(1, image, 300), clean_edges=clean_edges)
    return 1000 * (time.perf_counter() - started)


def timing_report(pages: list[tuple[GrayImage, GrayImage, str, str]]) -> str:
    dirty = [cleanup_ms(d) for _, d, _, _ in pages]
    plain = [cleanup_ms(p) for p, _, _, _ in pages]
    with_cleanup = [prepare_ms(d, True) for _, d, _, _ in pages]
    without = [prepare_ms(d, False) for _, d, _, _ in pages]
    found_dirty = sum(found for _, found in dirty)
    found_plain = sum(found for _, found in plain)

    def stats(values: list[float]) -> str:
        return f"median {statistics.median(values):5.1f} ms, max {max(values):5.1f} ms"

    return "\n".join(
        [
            f"remove_scan_edges, pages with border+holes: {stats([t for t, _ in dirty])} "
            f"(found something on {found_dirty}/{len(pages)})",
            f"remove_scan_edges, pages without:           {stats([t for t, _ in plain])} "
            f"(found something on {found_plain}/{len(pages)})",
            f"prepare_page with cleanup:    {stats(with_cleanup)}",
            f"prepare_page without cleanup: {stats(without)}",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=16)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1, help="parallel OCR processes")
    parser.add_argument("--per-page", action="store_true", help="print every page's CER")
    args = parser.parse_args()

    pages = make_pages(args.pages, args.seed)
    print(f"{len(pages)} corpus letters (seed {args.seed}), each with and without border+holes")
    print(timing_report(pages), flush=True)
    jobs = [(plain, True) for plain, _, _, _ in pages]
    jobs += [(dirty, False) for _, dirty, _, _ in pages]
    jobs += [(dirty, True) for _, dirty, _, _ in pages]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        texts = list(pool.map(read, jobs))
    n = len(pages)
    scores = [
        score("no border/holes", texts[:n], pages),
        score("border+holes, kept", texts[n : 2 * n], pages),
        score("border+holes, cleaned", texts[2 * n :], pages),
    ]
    for result in scores:
        above = sum(rate > 0.05 for rate in result.cer)
        print(
            f"{result.name:<22} pooled CER {100 * result.char_edits / result.chars:6.2f} %  "
            f"WER {100 * result.word_edits / result.words:6.2f} %  "
            f"median CER {100 * statistics.median(result.cer):5.2f} %  >5 %: {above:2d}/{n}\n"
            f"{'':<22} worst page {100 * result.worst[0]:.1f} % ({result.worst[1]})"
        )
    print(f"OCR wall clock {time.perf_counter() - started:.0f} s for {len(jobs)} readings")
    if args.per_page:
        print("page CER %: " + " / ".join(result.name for result in scores))
        for index, (_, _, _, description) in enumerate(pages):
            rates = "  ".join(f"{100 * result.cer[index]:6.1f}" for result in scores)
            print(f"{rates}   {description}")


if __name__ == "__main__":
    main()
