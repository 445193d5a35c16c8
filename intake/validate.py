"""Cheap checks at intake: is this a scan we can process at all?

Only headers are looked at (magic bytes, image headers, ``pdfinfo``); no page is rendered.
What fails here is permanent bad input (:class:`~mailroom.core.errors.BadInputError`) and goes to
quarantine. The OCR worker checks again while rasterising; intake only refuses early what
would never work, so that the scan centre hears about it within seconds.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from config.settings import Settings
from mailroom.core.errors import CorruptFile, EmptyFile, FileTooLarge, UnsafePath
from mailroom.core.media import EXTENSIONS, PDF, sniff_media_type
from mailroom.infra import poppler

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ScanCheck:
    """What intake learnt about a file that passed the checks."""

    media_type: str
    extension: str  # for the object key ``original.<ext>``
    pages: int


def read_limited(path: Path, max_bytes: int) -> bytes:
    """Read a regular file, refusing links, devices and anything over ``max_bytes``.

    The size is checked from ``fstat`` before reading, and again while reading (the file
    may grow), so an enormous file is never read whole.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafePath("symbolic links are refused", hint="copy the file itself") from exc
        raise
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath("not a regular file", hint="only plain files are taken")
        if st.st_size > max_bytes:
            raise too_large(st.st_size, max_bytes)
        chunks: list[bytes] = []
        total = 0
        while chunk := fh.read(_CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise too_large(total, max_bytes)
            chunks.append(chunk)
    return b"".join(chunks)


def too_large(size: int, max_bytes: int) -> FileTooLarge:
    return FileTooLarge(
        f"the file has {size:,} bytes, more than the limit of {max_bytes:,}",
        hint="split the batch or raise MAILROOM_MAX_FILE_BYTES",
    )


def check_scan(data: bytes, settings: Settings) -> ScanCheck:
    """Check type (magic bytes), page count, pixel count and decodability of a scan.

    Raises :class:`EmptyFile`, :class:`UnsupportedFileType`, :class:`CorruptFile`,
    :class:`EncryptedDocument` or :class:`FileTooLarge`.
    """
    media_type = sniff_media_type(data)
    pages = _check_pdf(data, settings) if media_type == PDF else _check_image(data, settings)
    return ScanCheck(media_type, EXTENSIONS[media_type], pages)


def _check_image(data: bytes, settings: Settings) -> int:
    max_pixels, max_pages = settings.max_page_pixels, settings.max_pages
    try:
        with warnings.catch_warnings():
            # Our own limit is checked per page below; Pillow's warning is noise here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                pages = getattr(image, "n_frames", 1)
                if pages > max_pages:
                    raise FileTooLarge(
                        f"the image file has {pages} pages, more than the limit of {max_pages}",
                        hint="split the batch or raise MAILROOM_MAX_PAGES",
                    )
                for index in range(pages):  # headers only: no pixel is decoded
                    image.seek(index)
                    width, height = image.size
                    if width * height > max_pixels:
                        raise FileTooLarge(
                            f"page {index + 1} has {width} x {height} pixels, more than the "
                            f"limit of {max_pixels:,} (decompression bomb protection)",
                            hint="scan at 300 dpi or raise MAILROOM_MAX_PAGE_PIXELS",
                        )
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
    except Image.DecompressionBombError as exc:
        raise FileTooLarge(
            f"the image is a decompression bomb: {exc}", hint="scan at 300 dpi"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptFile(
            f"the image cannot be decoded: {exc}", hint="rescan the document"
        ) from exc
    if pages < 1:
        raise EmptyFile("the image file has no pages", hint="rescan the document")
    return pages


def _check_pdf(data: bytes, settings: Settings) -> int:
    # pdfinfo reads files; the checked bytes (not the hot-folder file, which could change)
    # go to a private temp file.
    with tempfile.TemporaryDirectory(prefix="mailroom-intake-") as tmp:
        path = Path(tmp) / "check.pdf"
        path.write_bytes(data)
        info = poppler.pdf_info(path, max_pages=settings.max_pages)
    if info.pages == 0:
        raise EmptyFile("the PDF has no pages", hint="check the scanner's export")
    if info.pages > settings.max_pages:
        raise FileTooLarge(
            f"the PDF has {info.pages} pages, more than the limit of {settings.max_pages}",
            hint="split the batch or raise MAILROOM_MAX_PAGES",
        )
    dpi = settings.rasterize_dpi
    for number, (width_pt, height_pt) in enumerate(info.page_sizes, start=1):
        width, height = round(width_pt / 72 * dpi), round(height_pt / 72 * dpi)
        if width * height > settings.max_page_pixels:
            raise FileTooLarge(
                f"PDF page {number} would have {width} x {height} pixels at {dpi} dpi, more "
                f"than the limit of {settings.max_page_pixels:,}",
                hint="split the document or raise MAILROOM_MAX_PAGE_PIXELS",
            )
    return info.pages
