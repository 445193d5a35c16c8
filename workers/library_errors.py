"""What the image libraries raise on a damaged or hostile file, as mailroom errors.

Pillow raises a dozen exception types on broken headers and data, OpenCV raises
``cv2.error`` on images it cannot work with (an empty page, a one-pixel strip), numpy
``MemoryError`` on a page too big for the machine. On a given file these are permanent:
retrying the same bytes fails the same way. So the stages that decode and prepare pages
(:mod:`workers.rasterize`, :mod:`workers.preprocess`) turn them into bad input, which the
processor quarantines with the reason instead of retrying it as "transient".
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
from PIL import Image

from mailroom.core.errors import CorruptFile, FileTooLarge, MailroomError

#: Raised by Pillow, OpenCV, zlib and numpy on bad data (besides their own subclasses).
_LIBRARY_ERRORS = (
    OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
    ZeroDivisionError, OverflowError, struct.error, zlib.error, cv2.error,
)  # fmt: skip


@contextmanager
def bad_input_errors(what: str = "the file cannot be decoded") -> Iterator[None]:
    """Turn what the image libraries raise on a damaged file into permanent bad input.

    ``what`` begins the reason (``"page 3 cannot be prepared for OCR"``).

    An :class:`OSError` with an ``errno`` is the operating system's (disk full, I/O error)
    and passes unchanged: it is no fault of the file and may pass.
    """
    try:
        yield
    except MailroomError:
        raise
    except MemoryError as exc:
        raise FileTooLarge(
            f"{what}: it needs more memory than this worker has", hint="scan at 300 dpi"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise FileTooLarge(
            f"the image is a decompression bomb: {exc}", hint="scan at 300 dpi"
        ) from exc
    except _LIBRARY_ERRORS as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise CorruptFile(
            f"{what} ({type(exc).__name__}: {exc})",
            hint="rescan the document",
        ) from exc
