"""OCR quality on the degraded letter corpus: raw Tesseract vs this pipeline vs OCRmyPDF.

    .venv/bin/python -m benchmarks.ocr_quality --pages 60 --jobs 2

Prints pooled CER and WER (edit distance over all pages / reference length, on
whitespace-normalised text), the median page CER, pages above 5 %, the worst page and the
wall-clock seconds per page of the whole run (``--jobs`` pages in parallel for every system).

All three systems read the same pixels: raw Tesseract a PNG of the page, the pipeline and
OCRmyPDF one lossless (Flate) image-only PDF of all pages at 300 dpi. (A JPEG PDF for
OCRmyPDF only would hand it a second generation of JPEG artefacts the others do not see.)
OCRmyPDF's text is its ``--sidecar`` output, Tesseract's own reading order, as the other
two are scored (``pdftotext -raw`` on its PDF scrambled the lines of turned pages: 17 % CER
on a page its sidecar has at 1 %). Its page-rotation messages are counted from its log.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.corpus import char_errors, make_ocr_corpus, word_errors
from mailroom.core.domain import GrayImage
from mailroom.core.media import sniff_media_type
from mailroom.demo.scan import pdf_bytes, png_bytes
from mailroom.infra.tesseract import TesseractEngine
from workers.preprocess import prepare_page
from workers.rasterize import rasterize
from workers.recognize import recognize_page

ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}


@dataclass
class Score:
    name: str
    cer: list[float] = field(default_factory=list)
    char_edits: int = 0
    chars: int = 0
    word_edits: int = 0
    words: int = 0
    seconds: float = 0.0  # wall clock of the whole run (all pages, ``jobs`` in parallel)
    worst: tuple[float, str] = (0.0, "")

    def add(self, truth: str, text: str, description: str) -> None:
        edits, chars = char_errors(truth, text)
        w_edits, words = word_errors(truth, text)
        self.char_edits += edits
        self.chars += chars
        self.word_edits += w_edits
        self.words += words
        rate = edits / max(chars, 1)
        self.cer.append(rate)
        if rate >= self.worst[0]:
            self.worst = (rate, description)

    def report(self) -> str:
        pages = len(self.cer)
        above = sum(rate > 0.05 for rate in self.cer)
        return (
            f"{self.name:<22} pooled CER {100 * self.char_edits / max(self.chars, 1):6.2f} %  "
            f"WER {100 * self.word_edits / max(self.words, 1):6.2f} %  "
            f"median CER {100 * statistics.median(self.cer):5.2f} %  "
            f">5 %: {above:2d}/{pages}  {self.seconds / max(pages, 1):5.2f} s/page (wall)\n"
            f"{'':<22} worst page {100 * self.worst[0]:.1f} % ({self.worst[1]})"
        )


def raw_tesseract(image: GrayImage) -> str:
    """Plain ``tesseract page.png stdout -l deu``, as if nobody prepared the page."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "page.png"
        path.write_bytes(png_bytes(image))
        result = subprocess.run(
            ["tesseract", str(path), "stdout", "-l", "deu"],
            capture_output=True,
            text=True,
            env=ENV,
            check=True,
        )
    return result.stdout


_ENGINE: TesseractEngine | None = None


def pipeline(image: GrayImage) -> str:
    """This project's path from file bytes to text (rasterize, prepare, recognise).

    The input is the page as a lossless one-page PDF, the same pixels OCRmyPDF reads.
    """
    global _ENGINE  # one engine per benchmark process, as in a worker
    if _ENGINE is None:
        _ENGINE = TesseractEngine(language="deu")
    data = pdf_bytes([image], quality=None)
    pages = rasterize(data, sniff_media_type(data), dpi=300, max_pixels=120_000_000, max_pages=10)
    texts = [recognize_page(prepare_page(page), _ENGINE)[1].text for page in pages]
    return "\n".join(texts)


def run_system(
    name: str,
    function: Callable[[GrayImage], str],
    corpus: list[tuple[GrayImage, str, str]],
    jobs: int,
) -> tuple[Score, list[str]]:
    """Score ``function`` on every page; the time is the wall clock of the whole run."""
    score = Score(name)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        texts = list(pool.map(function, [image for image, _, _ in corpus]))
    score.seconds = time.perf_counter() - started
    for (_, truth, description), text in zip(corpus, texts, strict=True):
        score.add(truth, text, description)
    return score, texts


def ocrmypdf_texts(
    corpus: list[tuple[GrayImage, str, str]], jobs: int
) -> tuple[list[str], float, str]:
    """OCRmyPDF with deskew and page rotation on one image-only PDF of all pages.

    Returns the page texts, the wall-clock seconds and OCRmyPDF's log (stderr).
    """
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.pdf", Path(tmp) / "out.pdf"
        source.write_bytes(pdf_bytes([image for image, _, _ in corpus], quality=None))
        sidecar = Path(tmp) / "text.txt"
        started = time.perf_counter()
        result = subprocess.run(
            ["ocrmypdf", "--rotate-pages", "--deskew", "-l", "deu", "--jobs", str(jobs),
             "--sidecar", str(sidecar), str(source), str(target)],
            capture_output=True,
            text=True,
            env={**ENV, "PATH": f"{Path('.venv/bin').resolve()}:{os.environ['PATH']}"},
        )  # fmt: skip
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"ocrmypdf failed ({result.returncode}): {result.stderr[-2000:]}")
        # One form feed after every page, as Tesseract writes its text output.
        texts = sidecar.read_text(encoding="utf-8").split("\f")[: len(corpus)]
        if len(texts) != len(corpus):
            raise SystemExit(f"ocrmypdf's sidecar has {len(texts)} pages, not {len(corpus)}")
    return texts, seconds, result.stderr


def rotation_summary(log: str) -> str:
    """How often OCRmyPDF's orientation check turned a page, kept it, or could not tell."""
    turned = len(re.findall(r"- will rotate", log))
    too_low = len(re.findall(r"confidence too low to rotate", log))
    no_text = len(re.findall(r"Too few characters", log))
    return (
        f"{'':<22} orientation: {turned} pages turned, {too_low} below the confidence "
        f"threshold, {no_text} with too few characters for OSD"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes per system")
    parser.add_argument("--skip-raw", action="store_true")
    parser.add_argument("--skip-ocrmypdf", action="store_true")
    parser.add_argument("--show-worst", action="store_true", help="print the worst page's text")
    parser.add_argument("--per-page", action="store_true", help="print every page's CER")
    args = parser.parse_args()

    corpus = make_ocr_corpus(args.pages, seed=args.seed)
    print(f"{len(corpus)} degraded 300 dpi letter pages (seed {args.seed}), jobs={args.jobs}")
    results: list[tuple[Score, list[str]]] = []
    if not args.skip_raw:
        results.append(run_system("raw tesseract", raw_tesseract, corpus, args.jobs))
        print(results[-1][0].report(), flush=True)
    results.append(run_system("mailroom pipeline", pipeline, corpus, args.jobs))
    print(results[-1][0].report(), flush=True)
    ours = results[-1]
    if not args.skip_ocrmypdf:
        texts, seconds, log = ocrmypdf_texts(corpus, args.jobs)
        score = Score("ocrmypdf (deskew,rot)", seconds=seconds)
        for (_, truth, description), text in zip(corpus, texts, strict=True):
            score.add(truth, text, description)
        print(score.report(), flush=True)
        print(rotation_summary(log), flush=True)
        results.append((score, texts))
    if args.per_page:
        print("page CER %: " + " / ".join(score.name for score, _ in results))
        for index, (_, _, description) in enumerate(corpus):
            rates = "  ".join(f"{100 * score.cer[index]:6.1f}" for score, _ in results)
            print(f"{rates}   {description}")
    if args.show_worst:
        worst = max(range(len(corpus)), key=lambda i: ours[0].cer[i])
        print(f"--- truth ---\n{corpus[worst][1]}\n--- pipeline ---\n{ours[1][worst]}")


if __name__ == "__main__":
    main()
