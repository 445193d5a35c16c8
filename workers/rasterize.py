"""Stage *rasterize*: the original file -> one 8-bit grayscale image per page.

The original comes as a path (the worker's private copy, read lazily: Pillow decodes one
frame at a time, Poppler and pypdf read the PDF from the file) or as bytes (training
imports, tests), which go the same way: image bytes are opened in memory, PDF bytes are
written to a temp file in the system's temp dir for Poppler (they are in memory already,
so a tmpfs there costs nothing more).

Scan lines deliver TIFF (often multi-page), PNG, JPEG or image-only PDF. The type is taken
from the magic bytes, never from the file name. A PDF page that is just one full-page scan
image is decoded straight from that image at its own resolution (:mod:`workers.pdf_scans`,
4x cheaper); every other PDF page is rendered by Poppler at the requested dpi.
Page count and pixel count are checked from the headers *before* any pixel is decoded, so
a decompression bomb is refused cheaply. Whatever the image libraries raise on a damaged
or hostile file (Pillow's many exception types, OpenCV's ``cv2.error``, numpy running out
of memory) becomes :class:`CorruptFile` or :class:`FileTooLarge` here: bad input is
permanent, retrying the same bytes would fail the same way.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mailroom.core.domain import GrayImage, PageImage
from mailroom.core.errors import CorruptFile, EmptyFile, FileTooLarge, UnsupportedFileType
from mailroom.core.media import JPEG, PDF, PNG, TIFF
from mailroom.infra import poppler
from workers import pdf_scans
from workers.library_errors import bad_input_errors

SUPPORTED = (TIFF, PNG, JPEG, PDF)
DEFAULT_DPI = 300
#: A page wider/taller than this many inches at its declared dpi means the dpi tag is wrong
#: (a 2480-pixel A4 scan tagged 72 dpi would otherwise be upscaled four times).
_MAX_PLAUSIBLE_INCHES = 24.0
_PDF_CHUNK = 8  # pages rendered per pdftoppm call: bounds memory, keeps process starts few

#: A scanned file: its bytes, or the path of a file (read lazily, never whole).
Source = bytes | Path


def rasterize(
    source: Source, media_type: str, *, dpi: int, max_pixels: int, max_pages: int
) -> list[PageImage]:
    """Decode every page of a scanned file into grayscale page images.

    ``dpi`` is the rendering resolution for PDF pages Poppler has to draw; image files and
    scanner PDF pages keep their own resolution (300 assumed if an image file does not say).
    Raises :class:`CorruptFile`, :class:`EncryptedDocument`, :class:`FileTooLarge` (too many
    pixels or pages) or :class:`EmptyFile` (no pages).
    """
    pages = iter_pages(source, media_type, dpi=dpi, max_pixels=max_pixels, max_pages=max_pages)
    return list(pages)


def iter_pages(
    source: Source, media_type: str, *, dpi: int, max_pixels: int, max_pages: int
) -> Iterator[PageImage]:
    """Like :func:`rasterize`, one page at a time (for long batches: bounded memory).

    All limits are checked before the first page is yielded. A path must stay in place
    until the pages are consumed; it is the caller's to remove.
    """
    size = len(source) if isinstance(source, bytes) else source.stat().st_size
    if not size:
        raise EmptyFile("the file is empty (0 bytes)", hint="check the scanner's export")
    if media_type not in SUPPORTED:
        raise UnsupportedFileType(
            f"cannot rasterize {media_type!r}", hint="use TIFF, PNG, JPEG or PDF"
        )
    with bad_input_errors():
        if media_type == PDF:
            pages = _pdf_pages(source, dpi=dpi, max_pixels=max_pixels, max_pages=max_pages)
        else:
            pages = _image_pages(source, media_type, max_pixels=max_pixels, max_pages=max_pages)
    return _guarded(pages)


def _guarded(pages: Iterator[PageImage]) -> Iterator[PageImage]:
    """The pages, with the libraries' errors while decoding them turned into bad input."""
    with bad_input_errors():
        yield from pages


# --- images (Pillow) -------------------------------------------------------------------


def _too_many_pixels(width: int, height: int, max_pixels: int, where: str) -> FileTooLarge:
    return FileTooLarge(
        f"{where} has {width} x {height} = {width * height:,} pixels, more than the limit of "
        f"{max_pixels:,} (decompression bomb protection)",
        hint="scan at 300 dpi or raise MAILROOM_MAX_PAGE_PIXELS",
    )


def _open_image(source: Source) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Our own pixel limit is checked below, per frame; Pillow's warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Image.DecompressionBombError as exc:
        raise FileTooLarge(
            f"the image is a decompression bomb: {exc}", hint="scan at 300 dpi"
        ) from exc
    except UnidentifiedImageError as exc:  # its message names a buffer or a temp file
        raise CorruptFile(
            "the image cannot be read: its headers are damaged or of an unsupported kind",
            hint="rescan the document",
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptFile(f"the image cannot be read: {exc}", hint="rescan the document") from exc


def _image_dpi(image: Image.Image) -> int:
    """The resolution the file declares, or 300 when it is missing or implausible."""
    raw = image.info.get("dpi")
    try:
        value = round(float(raw[0])) if raw else 0
    except (TypeError, ValueError, IndexError):
        value = 0
    if value <= 0 or max(image.size) / value > _MAX_PLAUSIBLE_INCHES:
        return DEFAULT_DPI
    return value


def _to_gray(image: Image.Image) -> GrayImage:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        wide = np.asarray(image, dtype=np.uint32)
        return (wide >> (8 if wide.max() < 65536 else 24)).astype(np.uint8)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    gray = image if image.mode == "L" else image.convert("L")
    return np.asarray(gray, dtype=np.uint8)


def _image_pages(
    source: Source, media_type: str, *, max_pixels: int, max_pages: int
) -> Iterator[PageImage]:
    image = _open_image(source)
    try:
        frames = _checked_frames(image, max_pixels=max_pixels, max_pages=max_pages)
    except BaseException:
        image.close()
        raise
    return _decode_frames(image, media_type, frames)


def _checked_frames(image: Image.Image, *, max_pixels: int, max_pages: int) -> int:
    """The number of frames, after every frame's header passed the limits."""
    try:
        frames = getattr(image, "n_frames", 1)
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptFile(f"the TIFF page list is damaged: {exc}", hint="rescan") from exc
    if frames < 1:
        raise EmptyFile("the image file has no pages", hint="rescan the document")
    if frames > max_pages:
        raise FileTooLarge(
            f"the file has {frames} pages, more than the limit of {max_pages}",
            hint="split the batch or raise MAILROOM_MAX_PAGES",
        )
    # Check every frame's header before decoding any pixels.
    for index in range(frames):
        image.seek(index)
        width, height = image.size
        if width * height > max_pixels:
            raise _too_many_pixels(width, height, max_pixels, f"page {index + 1}")
    return frames


def _decode_frames(image: Image.Image, media_type: str, frames: int) -> Iterator[PageImage]:
    with image:  # closes the file once the last page is decoded (or decoding stops)
        for index in range(frames):
            try:
                image.seek(index)
                frame = ImageOps.exif_transpose(image) if media_type == JPEG else image
                frame.load()
                pixels = _to_gray(frame)
            except (OSError, SyntaxError, ValueError) as exc:
                raise CorruptFile(
                    f"page {index + 1} cannot be decoded: {exc}", hint="rescan the document"
                ) from exc
            if pixels.size == 0:
                raise CorruptFile(f"page {index + 1} has no pixels", hint="rescan the document")
            yield PageImage(number=index + 1, image=pixels, dpi=_image_dpi(image))


# --- PDF (Poppler) ---------------------------------------------------------------------


def _pdf_pages(source: Source, *, dpi: int, max_pixels: int, max_pages: int) -> Iterator[PageImage]:
    if isinstance(source, Path):
        return _pdf_file_pages(source, dpi=dpi, max_pixels=max_pixels, max_pages=max_pages)
    # Poppler reads files, so bytes go to a private temp file for the whole iteration.
    tmp = tempfile.NamedTemporaryFile(prefix="mailroom-", suffix=".pdf", delete=False)  # noqa: SIM115
    path = Path(tmp.name)
    try:
        with tmp:
            tmp.write(source)
        pages = _pdf_file_pages(path, dpi=dpi, max_pixels=max_pixels, max_pages=max_pages)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return _removing(path, pages)


def _removing(path: Path, pages: Iterator[PageImage]) -> Iterator[PageImage]:
    try:
        yield from pages
    finally:
        path.unlink(missing_ok=True)


def _pdf_file_pages(
    path: Path, *, dpi: int, max_pixels: int, max_pages: int
) -> Iterator[PageImage]:
    info = poppler.pdf_info(path, max_pages=max_pages)
    _check_pdf_limits(info, dpi=dpi, max_pixels=max_pixels, max_pages=max_pages)
    pdf = path.open("rb")  # pypdf reads objects from it on demand, until the last page
    try:
        scans = pdf_scans.find_scan_images(pdf, info.pages)
        for scan in scans:
            if scan is not None and max(scan.pixels, scan.width * scan.height) > max_pixels:
                raise _too_many_pixels(
                    scan.width, scan.height, max_pixels, f"the scan image of PDF page {scan.number}"
                )
    except BaseException:
        pdf.close()
        raise
    return _pdf_page_images(path, pdf, scans, dpi)


def _check_pdf_limits(info: poppler.PdfInfo, *, dpi: int, max_pixels: int, max_pages: int) -> None:
    if info.pages == 0:
        raise EmptyFile("the PDF has no pages", hint="check the scanner's export")
    if info.pages > max_pages:
        raise FileTooLarge(
            f"the PDF has {info.pages} pages, more than the limit of {max_pages}",
            hint="split the batch or raise MAILROOM_MAX_PAGES",
        )
    if info.javascript:  # intake refuses these; a document registered before may have it
        raise UnsupportedFileType(
            "the PDF contains JavaScript, which no scan does",
            hint="scan the paper original or export the document again as plain PDF",
        )
    for number, (width_pt, height_pt) in enumerate(info.page_sizes, start=1):
        width, height = round(width_pt / 72 * dpi), round(height_pt / 72 * dpi)
        if width * height > max_pixels:
            raise _too_many_pixels(width, height, max_pixels, f"PDF page {number} at {dpi} dpi")


def _pdf_page_images(
    path: Path, pdf: BinaryIO, scans: list[pdf_scans.ScanImage | None], dpi: int
) -> Iterator[PageImage]:
    """Scanner pages straight from their embedded image, all others rendered by Poppler.

    Consecutive pages to render go to one pdftoppm call (at most ``_PDF_CHUNK`` pages).
    ``pdf`` (the open file pypdf reads) is closed at the end.
    """
    with pdf:
        index = 0
        while index < len(scans):
            scan = scans[index]
            pixels = pdf_scans.decode_scan_image(scan) if scan is not None else None
            if scan is not None and pixels is not None:
                yield PageImage(number=index + 1, image=pixels, dpi=scan.dpi)
                index += 1
                continue
            end = index + 1  # render this page and the following non-scanner pages
            while end < len(scans) and scans[end] is None and end - index < _PDF_CHUNK:
                end += 1
            rendered = poppler.render_pages(path, dpi=dpi, first=index + 1, last=end)
            for offset, image in enumerate(rendered):
                yield PageImage(number=index + 1 + offset, image=image, dpi=dpi)
            index = end
