"""Cheap checks at intake: is this a scan we can process at all?

A file is never held in memory: :func:`spool` copies it in chunks to a private spool file
while hashing it, and :func:`check_scan` looks at that copy's headers only (magic bytes,
image headers, ``pdfinfo``); no page is rendered. What fails here is permanent bad input
(:class:`~mailroom.core.errors.BadInputError`) and goes to quarantine. The OCR worker
checks again while rasterising; intake only refuses early what would never work, so that
the scan centre hears about it within seconds.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from config.settings import Settings
from intake import spoolfiles
from mailroom.core.errors import (
    CorruptFile,
    EmptyFile,
    FileTooLarge,
    MailroomError,
    TransientError,
    UnsafePath,
    UnsupportedFileType,
)
from mailroom.core.media import EXTENSIONS, PDF, SNIFF_BYTES, sniff_media_type
from mailroom.infra import poppler

_CHUNK = 1024 * 1024
#: A page narrower or lower than this many pixels is no scan (and breaks the OCR stages).
MIN_PAGE_SIDE = 16
#: What Pillow raises on damaged or hostile headers besides its own OSError subclasses.
_IMAGE_ERRORS = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
    struct.error, ZeroDivisionError, OverflowError,
)  # fmt: skip


class FileChanged(TransientError):
    """The file changed while it was being taken: its writer is not finished yet."""


@dataclass(frozen=True)
class ScanCheck:
    """What intake learnt about a file that passed the checks."""

    media_type: str
    extension: str  # of the original's key, ``originals/<sha[:2]>/<sha256>.<ext>``
    pages: int


@dataclass(frozen=True)
class Spooled:
    """A private copy of a hot-folder file, made while hashing it (named after this
    process, :mod:`intake.spoolfiles`)."""

    path: Path
    size: int
    sha256: str
    source: os.stat_result  # the source file as ``fstat`` saw it before the copy

    def discard(self) -> None:
        """Remove the spool file."""
        spoolfiles.release(self.path)


def refuse_special(st: os.stat_result) -> None:
    """Refuse links and anything but a plain file from its ``lstat``, before opening it
    (opening a device can have effects of its own)."""
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePath("symbolic links are refused", hint="put the file itself in the folder")
    if not stat.S_ISREG(st.st_mode):
        raise UnsafePath("not a regular file", hint="only plain files are taken")


def spool(path: Path, spool_dir: Path, max_bytes: int) -> Spooled:
    """Copy a regular file in chunks to a private file in ``spool_dir``, hashing it.

    Links, devices and anything over ``max_bytes`` are refused: the size is checked from
    ``fstat`` before reading and again while reading, so an enormous file is never read
    whole. Raises :class:`FileChanged` if size or mtime changed during the copy.
    """
    with _open_regular(path) as source:
        before = os.fstat(source.fileno())
        if before.st_size > max_bytes:
            raise too_large(before.st_size, max_bytes)
        fd, copy = spoolfiles.create(spool_dir, "intake", ".spool")
        try:
            with os.fdopen(fd, "wb") as target:
                size, sha256 = _copy(source, target, max_bytes)
            _refuse_change(path, before, os.fstat(source.fileno()), size)
        except BaseException:
            spoolfiles.release(copy)
            raise
    return Spooled(copy, size, sha256, before)


def _open_regular(path: Path) -> BinaryIO:
    # O_NONBLOCK: opening a FIFO planted in the folder must not hang the watcher.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafePath("symbolic links are refused", hint="copy the file itself") from exc
        raise
    source = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        source.close()
        raise UnsafePath("not a regular file", hint="only plain files are taken")
    return source


def _copy(source: BinaryIO, target: BinaryIO, max_bytes: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    total = 0
    while chunk := source.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise too_large(total, max_bytes)
        digest.update(chunk)
        target.write(chunk)
    return total, digest.hexdigest()


def _refuse_change(path: Path, before: os.stat_result, after: os.stat_result, copied: int) -> None:
    if copied != before.st_size or _version(after) != _version(before):
        raise _changed(path)


def _changed(path: Path) -> FileChanged:
    return FileChanged(
        f"{path.name} changed while it was being taken (still being written)",
        hint="it stays in the hot folder and is taken once it no longer changes",
    )


def _version(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def ensure_unchanged(path: Path, spooled: Spooled) -> None:
    """Raise :class:`FileChanged` unless ``path`` is still the file that was spooled.

    Called once more just before the document is recorded: a writer that paused longer
    than the stability time may have resumed while the copy was checked and stored.
    """
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        raise _changed(path) from None
    if _version(now) != _version(spooled.source):
        raise _changed(path)


def too_large(size: int, max_bytes: int) -> FileTooLarge:
    return FileTooLarge(
        f"the file has {size:,} bytes, more than the limit of {max_bytes:,}",
        hint="split the batch or raise MAILROOM_MAX_FILE_BYTES",
    )


# --- the checks -------------------------------------------------------------------------


def check_scan(path: Path, settings: Settings) -> ScanCheck:
    """Check type (magic bytes), page count, pixel count and decodability of a scan file.

    ``path`` is a private copy (see :func:`spool`): only headers are read. Raises
    :class:`EmptyFile`, :class:`UnsupportedFileType`, :class:`CorruptFile`,
    :class:`EncryptedDocument` or :class:`FileTooLarge`.
    """
    media_type = sniff_media_type(read_head(path))
    pages = _check_pdf(path, settings) if media_type == PDF else _check_image(path, settings)
    return ScanCheck(media_type, EXTENSIONS[media_type], pages)


def read_head(path: Path) -> bytes:
    """The first bytes of a file, as many as the media type is told from."""
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


def _check_image(path: Path, settings: Settings) -> int:
    with _image_errors():
        with warnings.catch_warnings():
            # Our own limit is checked per page below; Pillow's warning is noise here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # lazy: headers only, no pixel is decoded
                pages = getattr(image, "n_frames", 1)
                _check_frame_count(pages, settings.max_pages)
                for index in range(pages):
                    image.seek(index)
                    _check_page_pixels(*image.size, index + 1, settings.max_page_pixels)
                is_png = image.format == "PNG"
        if is_png:
            _verify_png(path)  # Pillow's verify() reads each chunk whole into memory
    if pages < 1:
        raise EmptyFile("the image file has no pages", hint="rescan the document")
    return pages


@contextmanager
def _image_errors() -> Iterator[None]:
    """Pillow's complaints about the file become bad input; a failing disk does not."""
    try:
        yield
    except MailroomError:
        raise
    except Image.DecompressionBombError as exc:
        raise FileTooLarge(
            f"the image is a decompression bomb: {exc}", hint="scan at 300 dpi"
        ) from exc
    except MemoryError as exc:
        raise FileTooLarge("the image's headers need too much memory", hint="rescan") from exc
    except UnidentifiedImageError as exc:  # its message names the spool file: say it plainly
        raise CorruptFile(
            "the image cannot be decoded: its headers are damaged or of an unsupported kind",
            hint="rescan the document",
        ) from exc
    except _IMAGE_ERRORS as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the operating system's error (disk, permissions): retried, not refused
        raise CorruptFile(
            f"the image cannot be decoded: {exc}", hint="rescan the document"
        ) from exc


def _check_frame_count(pages: int, max_pages: int) -> None:
    if pages > max_pages:
        raise FileTooLarge(
            f"the image file has {pages} pages, more than the limit of {max_pages}",
            hint="split the batch or raise MAILROOM_MAX_PAGES",
        )


def _check_page_pixels(width: int, height: int, number: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise FileTooLarge(
            f"page {number} has {width} x {height} pixels, more than the limit of "
            f"{max_pixels:,} (decompression bomb protection)",
            hint="scan at 300 dpi or raise MAILROOM_MAX_PAGE_PIXELS",
        )
    if min(width, height) < MIN_PAGE_SIDE:
        raise CorruptFile(
            f"page {number} has only {width} x {height} pixels, too small for a scanned page",
            hint="check the scanner's export settings",
        )


def _verify_png(path: Path) -> None:
    """Walk the PNG's chunks up to IEND, checking each CRC in bounded pieces."""
    with path.open("rb") as fh:
        fh.seek(8)  # the signature, already checked
        while True:
            header = fh.read(8)
            if len(header) < 8:
                raise CorruptFile("the PNG file is cut short", hint="rescan the document")
            length, kind = struct.unpack(">I4s", header)
            if not kind.isalpha() or length > 2**31 - 1:
                raise CorruptFile("the PNG file has a broken chunk", hint="rescan the document")
            if _chunk_crc(fh, kind, length) != fh.read(4):
                raise CorruptFile("the PNG file has a damaged chunk (CRC)", hint="rescan")
            if kind == b"IEND":
                return


def _chunk_crc(fh: BinaryIO, kind: bytes, length: int) -> bytes:
    crc = zlib.crc32(kind)
    while length > 0:
        piece = fh.read(min(length, _CHUNK))
        if not piece:
            raise CorruptFile("the PNG file is cut short", hint="rescan the document")
        crc = zlib.crc32(piece, crc)
        length -= len(piece)
    return struct.pack(">I", crc & 0xFFFFFFFF)


def _check_pdf(path: Path, settings: Settings) -> int:
    info = poppler.pdf_info(path, max_pages=settings.max_pages)
    if info.pages == 0:
        raise EmptyFile("the PDF has no pages", hint="check the scanner's export")
    if info.pages > settings.max_pages:
        raise FileTooLarge(
            f"the PDF has {info.pages} pages, more than the limit of {settings.max_pages}",
            hint="split the batch or raise MAILROOM_MAX_PAGES",
        )
    if info.javascript:
        raise UnsupportedFileType(
            "the PDF contains JavaScript, which no scan does",
            hint="scan the paper original or export the document again as plain PDF",
        )
    for number, (width_pt, height_pt) in enumerate(info.page_sizes, start=1):
        _check_pdf_page(number, width_pt, height_pt, settings)
    return info.pages


def _check_pdf_page(number: int, width_pt: float, height_pt: float, settings: Settings) -> None:
    dpi = settings.rasterize_dpi
    width, height = round(width_pt / 72 * dpi), round(height_pt / 72 * dpi)
    if width * height > settings.max_page_pixels:
        raise FileTooLarge(
            f"PDF page {number} would have {width} x {height} pixels at {dpi} dpi, more "
            f"than the limit of {settings.max_page_pixels:,}",
            hint="split the document or raise MAILROOM_MAX_PAGE_PIXELS",
        )
    if min(width, height) < MIN_PAGE_SIDE:
        raise CorruptFile(
            f"PDF page {number} is only {width_pt:g} x {height_pt:g} pt, too small for a "
            "scanned page",
            hint="check the scanner's export settings",
        )
