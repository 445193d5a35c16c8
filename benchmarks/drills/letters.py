"""The letters the drills drop: rendered, degraded A4 scans at 300 dpi (PNG, and PDF).

The same pages as the OCR benchmarks (:func:`benchmarks.corpus.make_ocr_corpus`): real
Tesseract work for the workers, seconds per page, so that a fault meets documents in
every stage. Rendered once per run into a cache folder and copied from there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.corpus import make_ocr_corpus
from mailroom.demo.scanfiles import pdf_bytes, png_bytes

#: A letter whose file name contains this kills the worker reading it
#: (:mod:`benchmarks.drills.launch`).
POISON = "poisoned-letter"


class LetterBox:
    """Rendered letters in ``folder``: one-page PNG scans, and multi-page PDFs on request."""

    def __init__(self, folder: Path, pages: int = 12, seed: int = 7) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._images = [image for image, _truth, _what in make_ocr_corpus(pages, seed)]
        self.pages: list[Path] = []
        for index, image in enumerate(self._images):
            path = folder / f"page-{index:02d}.png"
            if not path.exists():
                path.write_bytes(png_bytes(image))
            self.pages.append(path)

    def page(self, index: int) -> Path:
        return self.pages[index % len(self.pages)]

    def long_pdf(self, pages: int) -> Path:
        """A PDF of ``pages`` dense pages (the letters' pages over and over)."""
        path = self.folder / f"long-{pages}.pdf"
        if not path.exists():
            images = [self._images[i % len(self._images)] for i in range(pages)]
            path.write_bytes(pdf_bytes(images))
        return path


def drop(source: Path, hot_folder: Path, name: str) -> Path:
    """Put a copy of ``source`` into the hot folder as ``name``, as a scanner does: written
    under a hidden name first, then renamed (the watcher ignores hidden files)."""
    hot_folder.mkdir(parents=True, exist_ok=True)
    partial = hot_folder / f".{name}.part"
    shutil.copyfile(source, partial)
    target = hot_folder / name
    partial.rename(target)
    return target
