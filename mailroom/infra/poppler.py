"""The one module that runs Poppler (``pdfinfo``, ``pdftoppm``).

It probes the version once, reads page count and page sizes *before* rendering (so that a
decompression bomb is refused without drawing a pixel) and turns Poppler's failures into
mailroom errors.
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from mailroom.core.domain import GrayImage
from mailroom.core.errors import CorruptFile, EncryptedDocument, MissingDependencyError, OcrTimeout

INSTALL_HINT = "apt-get install poppler-utils"
#: pdfinfo prints sizes with C's ``%g``: ``612``, ``595.276``, ``1e+06``, even ``nan``/``inf``;
#: any token is taken here and :func:`_points` decides whether it is a usable number.
_PAGE_SIZE = re.compile(r"^Page\s+(\d+)\s+size:\s+(\S+)\s+x\s+(\S+)\s+pts", re.M)
_PAGE_ROT = re.compile(r"^Page\s+(\d+)\s+rot:\s+(\d+)", re.M)
_PAGES = re.compile(r"^Pages:\s+(\d+)", re.M)
_JAVASCRIPT = re.compile(r"^JavaScript:\s+yes", re.M)
_UNREADABLE_SIZE = "rescan the document or export it again as PDF"


@dataclass(frozen=True)
class PdfInfo:
    """What ``pdfinfo`` says about a PDF: page count and each page's size in points."""

    pages: int
    #: (width, height) in PostScript points (1/72 inch), after the page's /Rotate.
    page_sizes: list[tuple[float, float]]
    #: The document carries JavaScript (pdfinfo's ``JavaScript: yes``).
    javascript: bool = False


@cache
def poppler_version() -> str:
    """Poppler's version (``"22.12.0"``); raises :class:`MissingDependencyError`."""
    try:
        result = subprocess.run(
            ["pdfinfo", "-v"], capture_output=True, text=True, timeout=30, check=False
        )
    except FileNotFoundError as exc:
        raise MissingDependencyError(
            "poppler (pdfinfo) is not installed", hint=INSTALL_HINT
        ) from exc
    match = re.search(r"version\s+([\d.]+)", result.stderr + result.stdout)
    if not match:
        raise MissingDependencyError("cannot read the poppler version", hint=INSTALL_HINT)
    return match.group(1)


def _failure(stderr: str, what: str) -> Exception:
    """Turn Poppler's complaint into the right error class."""
    if "password" in stderr.lower():
        return EncryptedDocument(
            "the PDF is password-protected",
            hint="ask the sender for an unprotected copy or scan the paper original",
        )
    detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no detail"
    return CorruptFile(f"{what}: {detail}", hint="rescan the document or ask for a new copy")


def pdf_info(path: Path, *, max_pages: int, timeout: float = 60) -> PdfInfo:
    """Read page count, page sizes of the first ``max_pages + 1`` pages and whether the
    PDF carries JavaScript.

    Raises :class:`EncryptedDocument` for password-protected PDFs and :class:`CorruptFile`
    when Poppler cannot parse the file or a page's size cannot be read.
    """
    poppler_version()
    cmd = ["pdfinfo", "-f", "1", "-l", str(max_pages + 1), str(path)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CorruptFile(
            f"pdfinfo took longer than {timeout:.0f} s", hint="the PDF is probably damaged"
        ) from exc
    if result.returncode != 0 and "last page (0)" in result.stderr:
        return PdfInfo(pages=0, page_sizes=[])  # a valid PDF without pages
    if result.returncode != 0:
        raise _failure(result.stderr, "Poppler cannot read the PDF")
    pages_match = _PAGES.search(result.stdout)
    if not pages_match:
        raise _failure(result.stderr, "Poppler found no page count in the PDF")
    pages = int(pages_match.group(1))
    sizes = _page_sizes(result.stdout, min(pages, max_pages + 1))
    return PdfInfo(pages, sizes, javascript=bool(_JAVASCRIPT.search(result.stdout)))


def _page_sizes(stdout: str, expected: int) -> list[tuple[float, float]]:
    """Every listed page's (width, height) in points, turned by its /Rotate.

    Raises :class:`CorruptFile` if a page's size is missing or no positive finite number:
    a page whose size is unknown cannot be checked against the pixel limit.
    """
    rotations = {int(n): int(r) for n, r in _PAGE_ROT.findall(stdout)}
    listed = {int(n): (w, h) for n, w, h in _PAGE_SIZE.findall(stdout)}
    sizes: list[tuple[float, float]] = []
    for number in range(1, expected + 1):
        if number not in listed:
            raise CorruptFile(
                f"the size of PDF page {number} cannot be read", hint=_UNREADABLE_SIZE
            )
        w, h = (_points(text, number) for text in listed[number])
        sizes.append((h, w) if rotations.get(number, 0) % 180 else (w, h))
    return sizes


def _points(text: str, number: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise CorruptFile(
            f"PDF page {number} has an unusable size ({text} pt)", hint=_UNREADABLE_SIZE
        )
    return value


def render_pages(
    path: Path, *, dpi: int, first: int, last: int, timeout: int = 300
) -> list[GrayImage]:
    """Render pages ``first..last`` (1-based, inclusive) as 8-bit grayscale arrays.

    ``pdftoppm -gray`` writes one binary PGM per page to stdout, parsed here without a
    temp file or an image library (PNG output or pdftocairo were 30x slower).
    """
    poppler_version()
    cmd = ["pdftoppm", "-gray", "-r", str(dpi), "-f", str(first), "-l", str(last), str(path)]
    try:
        result = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise MissingDependencyError(
            "poppler (pdftoppm) is not installed", hint=INSTALL_HINT
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise OcrTimeout(f"pdftoppm took longer than {timeout:.0f} s on {path.name}") from exc
    stderr = result.stderr.decode("utf-8", "replace")
    if result.returncode != 0:
        raise _failure(stderr, "Poppler cannot render the PDF")
    images = parse_pgm_stream(result.stdout)
    if len(images) != last - first + 1:
        raise CorruptFile(
            f"Poppler rendered {len(images)} of pages {first}-{last}",
            hint="rescan the document or ask for a new copy",
        )
    return images


_PGM_HEADER = re.compile(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s")


def parse_pgm_stream(data: bytes) -> list[GrayImage]:
    """Split concatenated binary 8-bit PGM images (``pdftoppm -gray`` output)."""
    images: list[GrayImage] = []
    offset = 0
    while offset < len(data):
        match = _PGM_HEADER.match(data, offset)
        if not match or int(match.group(3)) != 255:
            raise CorruptFile("pdftoppm wrote an unreadable page image", hint="rescan")
        width, height = int(match.group(1)), int(match.group(2))
        start, end = match.end(), match.end() + width * height
        if end > len(data):
            raise CorruptFile("pdftoppm's page image is cut short", hint="rescan the document")
        images.append(np.frombuffer(data, np.uint8, width * height, start).reshape(height, width))
        offset = end
    return images
