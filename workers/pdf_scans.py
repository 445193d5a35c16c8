"""Scanner PDFs without rendering: take each page's one full-page image straight out.

A scan line writes every page of an image-only PDF as exactly one raster image covering the
page (JPEG for grey and colour, CCITT G4 fax for black and white), optionally with an
invisible OCR text layer. Decoding that image directly costs about 40 ms per A4 page at
300 dpi; rendering it with ``pdftoppm`` cost 155 ms. Any page that is not of that simple
kind - visible text, vector graphics, several images, masks, annotations, unusual colour
spaces - is left to Poppler (``find_scan_images`` returns None for it).

Nothing here decodes pixels before the caller has checked :attr:`ScanImage.pixels` against
the pixel limit; the decoders also refuse data whose real size differs from the declared.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

import cv2
import numpy as np
from PIL import Image
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import ContentStream, StreamObject

from mailroom.core.domain import GrayImage

#: The image must cover the page to within this share of its width and height.
_COVER_TOLERANCE = 0.01
#: Pixel aspect differences below this are measurement noise, above it the image is resampled.
_ASPECT_TOLERANCE = 0.01
#: Scan resolutions outside this range are implausible; such pages are rendered instead.
_MIN_DPI, _MAX_DPI = 70.0, 1200.0
_GREY_SPACES = {"/DeviceGray", "/CalGray"}
_RGB_SPACES = {"/DeviceRGB", "/CalRGB"}
#: Operators that paint nothing on their own (the text ones are checked for invisibility).
_STATE_OPS = {"q", "Q", "cm", "w", "J", "j", "M", "d", "ri", "i", "g", "G", "rg", "RG"}
_MARKED_CONTENT_OPS = {"BMC", "BDC", "EMC", "MP", "DP"}  # tags for PDF/A, paint nothing
_TEXT_STATE_OPS = {"BT", "ET", "Tf", "Tm", "Td", "TD", "T*", "Tc", "Tw", "Tz", "TL", "Ts"}
_TEXT_SHOW_OPS = {"Tj", "TJ", "'", '"'}
_INVISIBLE = 3  # text render mode "neither fill nor stroke" (an OCR text layer)

Matrix = tuple[float, float, float, float, float, float]
_IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True)
class ScanImage:
    """The one full-page image of a scanned PDF page, located but not yet decoded."""

    number: int  # 1-based page number
    stream: StreamObject
    kind: str  # "jpeg", "ccitt" or "flate"
    width: int  # pixels as stored
    height: int
    components: int  # 1 (grey) or 3 (RGB)
    bits: int
    invert: bool  # the image's /Decode array swaps black and white
    dpi_x: float
    dpi_y: float
    rotate: int  # the page's /Rotate: clockwise degrees, 0/90/180/270

    @property
    def dpi(self) -> int:
        """The resolution of the decoded page (the finer axis when pixels are not square)."""
        return round(max(self.dpi_x, self.dpi_y))

    @property
    def pixels(self) -> int:
        """Pixels of the decoded page (after resampling to square pixels): for the limit."""
        scale = max(self.dpi_x, self.dpi_y)
        return round(self.width * scale / self.dpi_x) * round(self.height * scale / self.dpi_y)


def find_scan_images(source: bytes | BinaryIO, pages: int) -> list[ScanImage | None]:
    """For each of the PDF's first ``pages`` pages: its full-page scan image, or None.

    None means "render this page": the PDF could not be parsed here, or the page shows
    anything but one full-page image (an invisible OCR text layer is allowed). Parses the
    page structure only, decodes no pixels. ``source`` is the PDF's bytes or an open,
    seekable file, read on demand: keep it open until the images are decoded.
    """
    try:
        reader = PdfReader(
            io.BytesIO(source) if isinstance(source, bytes) else source, strict=False
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [_scan_image(reader, number) for number in range(1, pages + 1)]
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError):
        return [None] * pages  # Poppler will read it (or report it as damaged)


def _scan_image(reader: PdfReader, number: int) -> ScanImage | None:
    page = reader.pages[number - 1]
    if _has_visible_annotations(page):
        return None
    xobjects = _resolve(_resolve(page.get("/Resources", {})).get("/XObject", {}))
    placed = _single_placed_image(page, xobjects)
    if placed is None:
        return None
    name, ctm = placed
    stream = _resolve(xobjects.get(name))
    if not isinstance(stream, StreamObject) or stream.get("/Subtype") != "/Image":
        return None
    mediabox = page.mediabox
    box = (float(mediabox.left), float(mediabox.bottom), float(mediabox.right), float(mediabox.top))
    if page.cropbox != mediabox or not _covers(ctm, box):
        return None
    return _describe(stream, number, ctm, int(page.get("/Rotate", 0) or 0) % 360)


def _resolve(value: Any) -> Any:
    return value.get_object() if hasattr(value, "get_object") else value


def _flag(value: Any) -> bool:
    """A PDF boolean as Python bool (pypdf's ``BooleanObject(False)`` is truthy)."""
    return bool(getattr(value, "value", value))


def _has_visible_annotations(page: Any) -> bool:
    annotations = _resolve(page.get("/Annots")) or []
    return any(_resolve(a).get("/Subtype") != "/Link" for a in annotations)


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    """m then n (PDF's row-vector convention: ``cm`` pre-multiplies the current matrix)."""
    a, b, c, d, e, f = m
    p, q, r, s, t, u = n
    return (
        a * p + b * r,
        a * q + b * s,
        c * p + d * r,
        c * q + d * s,
        e * p + f * r + t,
        e * q + f * s + u,
    )


def _single_placed_image(page: Any, xobjects: Any) -> tuple[str, Matrix] | None:
    """(XObject name, matrix) if the content draws exactly one XObject and nothing visible."""
    contents = page.get_contents()
    if contents is None:
        return None
    operations = contents.operations if isinstance(contents, ContentStream) else []
    ctm, render_mode = _IDENTITY, 0
    stack: list[tuple[Matrix, int]] = []
    drawn: tuple[str, Matrix] | None = None
    for operands, raw in operations:
        op = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
        if op == "q":
            stack.append((ctm, render_mode))
        elif op == "Q":
            if not stack:
                return None
            ctm, render_mode = stack.pop()
        elif op == "cm":
            ctm = _multiply(tuple(float(x) for x in operands), ctm)  # type: ignore[arg-type]
        elif op == "Tr":
            render_mode = int(operands[0])
        elif op == "Do":
            if drawn is not None or str(operands[0]) not in xobjects:
                return None
            drawn = (str(operands[0]), ctm)
        elif op in _TEXT_SHOW_OPS:
            if render_mode != _INVISIBLE:
                return None
        elif op not in _STATE_OPS | _TEXT_STATE_OPS | _MARKED_CONTENT_OPS:
            return None  # paths, shadings, inline images, gs, marked content with props...
    return drawn


def _covers(ctm: Matrix, box: tuple[float, float, float, float]) -> bool:
    """The unit square under ``ctm`` is upright, unflipped and covers ``box``."""
    a, b, c, d, e, f = ctm
    if b or c or a <= 0 or d <= 0:
        return False
    left, bottom, right, top = box
    width, height = right - left, top - bottom
    return (
        abs(e - left) <= _COVER_TOLERANCE * width
        and abs(e + a - right) <= _COVER_TOLERANCE * width
        and abs(f - bottom) <= _COVER_TOLERANCE * height
        and abs(f + d - top) <= _COVER_TOLERANCE * height
    )


def _components(stream: StreamObject) -> int | None:
    space = _resolve(stream.get("/ColorSpace"))
    if isinstance(space, list) and space:
        family = str(space[0])
        if family == "/ICCBased":
            channels = int(_resolve(space[1]).get("/N", 0))
            return channels if channels in (1, 3) else None
        space = family
    name = str(space)
    return 1 if name in _GREY_SPACES else 3 if name in _RGB_SPACES else None


def _describe(stream: StreamObject, number: int, ctm: Matrix, rotate: int) -> ScanImage | None:
    if _flag(stream.get("/ImageMask", False)) or "/SMask" in stream or "/Mask" in stream:
        return None
    filters = _resolve(stream.get("/Filter"))
    if isinstance(filters, list):
        filters = filters[0] if len(filters) == 1 else None
    kind = {"/DCTDecode": "jpeg", "/CCITTFaxDecode": "ccitt", "/FlateDecode": "flate"}.get(
        str(filters)
    )
    components = _components(stream)
    width, height = int(stream.get("/Width", 0)), int(stream.get("/Height", 0))
    bits = int(stream.get("/BitsPerComponent", 1 if kind == "ccitt" else 8))
    if kind is None or components is None or width <= 0 or height <= 0 or rotate % 90:
        return None
    if (kind == "ccitt" and (bits != 1 or components != 1)) or bits not in (1, 8):
        return None
    if bits == 1 and components != 1:
        return None
    decode = [float(x) for x in _resolve(stream.get("/Decode")) or [0, 1] * components]
    if decode == [1.0, 0.0] and components == 1:
        invert = True
    elif decode == [0.0, 1.0] * components:
        invert = False
    else:
        return None
    dpi_x, dpi_y = width / (ctm[0] / 72), height / (ctm[3] / 72)
    return ScanImage(
        number, stream, kind, width, height, components, bits, invert, dpi_x, dpi_y, rotate
    )


# --- decoding ------------------------------------------------------------------------


def decode_scan_image(scan: ScanImage) -> GrayImage | None:
    """The page as an upright-as-displayed 8-bit grey image; None if it must be rendered.

    Honours the image's /Decode array, its colour space, the page's /Rotate and non-square
    pixels (resampled to the finer resolution).
    """
    if not all(_MIN_DPI <= value <= _MAX_DPI for value in (scan.dpi_x, scan.dpi_y)):
        return None  # a thumbnail or a mislabelled page: render it at the working dpi
    try:
        decoder = {"jpeg": _decode_jpeg, "ccitt": _decode_ccitt, "flate": _decode_flate}
        pixels = decoder[scan.kind](scan)
    except (OSError, ValueError, SyntaxError, zlib.error, PyPdfError):
        return None
    if pixels is None or pixels.shape != (scan.height, scan.width):
        return None
    if scan.invert:
        pixels = 255 - pixels
    if abs(scan.dpi_x - scan.dpi_y) > _ASPECT_TOLERANCE * max(scan.dpi_x, scan.dpi_y):
        scale = max(scan.dpi_x, scan.dpi_y)
        size = (round(scan.width * scale / scan.dpi_x), round(scan.height * scale / scan.dpi_y))
        pixels = np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_LINEAR), np.uint8)
    if scan.rotate:
        pixels = np.ascontiguousarray(np.rot90(pixels, k=-(scan.rotate // 90)))
    return pixels


def _raw(scan: ScanImage) -> bytes:
    """The stream's bytes with no filter applied (pypdf would inflate Flate unbounded)."""
    return bytes(scan.stream._data)


def _decode_jpeg(scan: ScanImage) -> GrayImage | None:
    data = _raw(scan)
    with Image.open(io.BytesIO(data)) as image:  # reads the header only
        if image.size != (scan.width, scan.height) or image.mode not in ("L", "RGB", "YCbCr"):
            return None  # CMYK (often stored inverted) and size mismatches: let Poppler draw
    # libjpeg converts to grey while decoding; EXIF orientation is not part of PDF.
    flags = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    return None if decoded is None else np.asarray(decoded, dtype=np.uint8)


def _decode_ccitt(scan: ScanImage) -> GrayImage | None:
    parms = _resolve(scan.stream.get("/DecodeParms")) or {}
    if isinstance(parms, list):
        parms = _resolve(parms[0]) if len(parms) == 1 else {}
    k = int(parms.get("/K", 0))
    columns = int(parms.get("/Columns", 1728))
    rows = int(parms.get("/Rows", scan.height) or scan.height)
    align = _flag(parms.get("/EncodedByteAlign", False))
    if columns != scan.width or rows != scan.height or (align and k < 0):
        return None
    compression = 4 if k < 0 else 3
    t4_options = (1 if k > 0 else 0) | (4 if align else 0)
    tiff = _fax_tiff(_raw(scan), columns, rows, compression, t4_options)
    with Image.open(io.BytesIO(tiff)) as image:
        fax = np.asarray(image.convert("L"), dtype=np.uint8)  # fax black -> 0
    # Decoded samples: 0 is black unless /BlackIs1; the /Decode inversion comes on top.
    return 255 - fax if _flag(parms.get("/BlackIs1", False)) else fax


def _fax_tiff(data: bytes, width: int, height: int, compression: int, t4: int) -> bytes:
    """A one-strip TIFF around raw CCITT data, white-is-zero as fax data is."""
    tags = [
        (256, 4, width),  # ImageWidth
        (257, 4, height),  # ImageLength
        (258, 3, 1),  # BitsPerSample
        (259, 3, compression),  # 3 = G3, 4 = G4
        (262, 3, 0),  # PhotometricInterpretation: WhiteIsZero
        (273, 4, 0),  # StripOffsets, patched below
        (278, 4, height),  # RowsPerStrip
        (279, 4, len(data)),  # StripByteCounts
        (292, 4, t4),  # T4Options
    ]
    header_size = 8 + 2 + 12 * len(tags) + 4
    ifd = struct.pack("<H", len(tags))
    for tag, kind, value in tags:
        value = header_size if tag == 273 else value
        ifd += struct.pack("<HHLL" if kind == 4 else "<HHLHxx", tag, kind, 1, value)
    return b"II" + struct.pack("<HL", 42, 8) + ifd + struct.pack("<L", 0) + data


def _decode_flate(scan: ScanImage) -> GrayImage | None:
    parms = _resolve(scan.stream.get("/DecodeParms")) or {}
    if isinstance(parms, list) or int(parms.get("/Predictor", 1)) != 1:
        return None  # PNG/TIFF predictors: Poppler undoes them
    row_bytes = (scan.width * scan.components * scan.bits + 7) // 8
    expected = row_bytes * scan.height
    # Bounded inflate: a stream cannot expand beyond what its declared size needs.
    raw = zlib.decompressobj().decompress(_raw(scan), expected)
    if len(raw) < expected:
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(scan.height, row_bytes)
    if scan.bits == 1:
        bits = np.unpackbits(rows, axis=1)[:, : scan.width]
        return np.asarray(bits * 255, dtype=np.uint8)
    if scan.components == 1:
        return rows.copy()
    rgb = rows.reshape(scan.height, scan.width, 3)
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
