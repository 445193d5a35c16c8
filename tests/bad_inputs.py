"""A catalogue of bad input a scan line can drop: each kind, where it is caught, and why.

``stage`` says who refuses it: ``intake`` (the headers, before anything is stored; the
file goes to ``quarantine/``) or ``worker`` (found while rasterising; the file is already
in ``processed/``). ``reason`` is a part of the reason the scan centre reads.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pypdf import PdfWriter

MiB = 1024 * 1024


@dataclass(frozen=True)
class Kind:
    """One kind of bad input, made by ``make`` as ``folder/name``."""

    name: str
    make: Callable[[Path], None]
    reason: str
    stage: str = "intake"


# --- building blocks ------------------------------------------------------------------


def noise(width: int, height: int, seed: int = 1) -> Image.Image:
    """A grey image that compresses badly (so that a cut really loses pixel data)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((height, width)) * 255).astype(np.uint8))


def encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png_claiming(
    width: int, height: int, *, depth: int = 8, colour: int = 0, extra: bytes = b""
) -> bytes:
    """A small PNG whose header claims any size, depth and colour type."""
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + extra
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + png_chunk(b"IEND", b"")
    )


def tiff_claiming(width: int, height: int, *, compression: int = 1, signed: bool = False) -> bytes:
    """An uncompressed grey TIFF header (one strip) with any size; the strip is missing."""
    size_type = 9 if signed else 4  # SLONG or LONG
    entries = [
        (256, size_type, width), (257, size_type, height), (258, 3, 8), (259, 3, compression),
        (262, 3, 1), (273, 4, 8 + 2 + 12 * 8 + 4), (278, 4, 64), (279, 4, 4096),
    ]  # fmt: skip
    out = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    for tag, kind, value in entries:
        body = (
            struct.pack("<HH", value, 0)
            if kind == 3
            else struct.pack("<i" if kind == 9 else "<I", value)
        )
        out += struct.pack("<HHI", tag, kind, 1) + body
    return out + struct.pack("<I", 0)


def pdf_by_hand(
    mediabox: str = "[0 0 595 842]", *, catalog: str = "", count: int = 1, kids: str = "3 0 R"
) -> bytes:
    """A one-page PDF written object by object, with a correct cross-reference table."""
    objects = [
        f"<< /Type /Catalog /Pages 2 0 R {catalog}>>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox {mediabox} >>",
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out + trailer.encode()


def blank_pdf(pages: int = 1, size: tuple[float, float] = (595, 842), password: str = "") -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(*size)
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_with_bomb_image() -> bytes:
    """A scanner-like page whose one image claims 40000 x 40000 pixels (pdfinfo is fine)."""
    from pypdf.generic import NameObject, NumberObject

    from tests.unit.test_rasterize import _PLACE_IMAGE, ImageSpec, _pdf_with_content

    bomb = ImageSpec(
        zlib.compress(b"\x00" * 1000),
        Filter=NameObject("/FlateDecode"),
        Width=NumberObject(40_000),
        Height=NumberObject(40_000),
        BitsPerComponent=NumberObject(8),
        ColorSpace=NameObject("/DeviceGray"),
    )
    return _pdf_with_content(_PLACE_IMAGE, bomb)


def damaged_png() -> bytes:
    data = bytearray(encoded(noise(160, 100), "PNG"))
    data[60:80] = b"\x00" * 20  # inside the IDAT chunk: its CRC no longer matches
    return bytes(data)


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def javascript_catalog() -> str:
    return "/Names << /JavaScript << /Names [(a) << /S /JavaScript /JS (app.alert\\(1\\)) >>] >> >>"


# --- the kinds --------------------------------------------------------------------------


def _bytes(name: str, build: Callable[[], bytes], reason: str, stage: str = "intake") -> Kind:
    def make(folder: Path) -> None:
        (folder / name).write_bytes(build())

    return Kind(name, make, reason, stage)


def _special(name: str, make: Callable[[Path], None], reason: str) -> Kind:
    return Kind(name, make, reason)


UNSUPPORTED = "neither TIFF, PNG, JPEG nor PDF"
DAMAGED_HEADERS = "headers are damaged"

KINDS = [
    # empty, tiny and foreign files (the magic bytes)
    _bytes("leer.pdf", lambda: b"", "empty (0 bytes)"),
    _bytes("ein-byte.tif", lambda: b"I", UNSUPPORTED),
    _bytes("brief-text.pdf", lambda: b"Sehr geehrte Damen und Herren,\n" * 20, UNSUPPORTED),
    _bytes("webseite.pdf", lambda: b"<!DOCTYPE html><html><body>Scan</body></html>\n", UNSUPPORTED),
    _bytes("antrag.docx.pdf", lambda: b"PK\x03\x04" + b"\x00" * 200, UNSUPPORTED),
    _bytes("bild.gif", lambda: encoded(noise(64, 64), "GIF"), UNSUPPORTED),
    _bytes("bild.bmp", lambda: encoded(noise(64, 64), "BMP"), UNSUPPORTED),
    _bytes("bild.webp", lambda: encoded(noise(64, 64), "WEBP"), UNSUPPORTED),
    _bytes("programm.pdf", lambda: b"\x7fELF\x02\x01\x01" + b"\x00" * 200, UNSUPPORTED),
    _bytes("utf16.pdf", lambda: "%PDF-1.4 als UTF-16".encode("utf-16"), UNSUPPORTED),
    _bytes("postscript.pdf", lambda: b"%!PS-Adobe-3.0\n%%Pages: 1\nshowpage\n", UNSUPPORTED),
    # PDFs (pdfinfo)
    _bytes("nur-kopf.pdf", lambda: b"%PDF-1.7\n", "Poppler cannot read the PDF"),
    _bytes("abgeschnitten.pdf", lambda: blank_pdf()[:200], "Poppler cannot read the PDF"),
    _bytes("geschuetzt.pdf", lambda: blank_pdf(password="geheim"), "password-protected"),
    _bytes("ohne-seiten.pdf", lambda: blank_pdf(pages=0), "the PDF has no pages"),
    _bytes("exponent.pdf", lambda: pdf_by_hand("[0 0 1000000 1000000]"), "4166667 x 4166667"),
    _bytes("plakat.pdf", lambda: pdf_by_hand("[0 0 14400 14400]"), "60000 x 60000 pixels"),
    _bytes("winzig.pdf", lambda: pdf_by_hand("[0 0 0.001 0.001]"), "too small"),
    _bytes("zu-viele-seiten.pdf", lambda: blank_pdf(pages=501, size=(100, 100)), "501 pages"),
    _bytes("javascript.pdf", lambda: pdf_by_hand(catalog=javascript_catalog()), "JavaScript"),
    _bytes("seitenzahl-falsch.pdf", lambda: pdf_by_hand(count=3), "unusable size"),
    _bytes("ohne-seitengroesse.pdf", lambda: pdf_by_hand(kids=""), "unusable size"),
    # PNG
    _bytes("bombe.png", lambda: png_claiming(40_000, 40_000), "decompression bomb"),
    _bytes("negativ.png", lambda: png_claiming(2**31 + 5, 200), "decompression bomb"),
    _bytes("breite-null.png", lambda: png_claiming(0, 200), DAMAGED_HEADERS),
    _bytes("bittiefe.png", lambda: png_claiming(200, 200, depth=7), DAMAGED_HEADERS),
    _bytes("farbtyp.png", lambda: png_claiming(200, 200, colour=5), DAMAGED_HEADERS),
    _bytes("nur-signatur.png", lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, DAMAGED_HEADERS),
    _bytes("text-bombe.png", lambda: png_claiming(200, 200, extra=_text_bomb()), "too large"),
    _bytes("pruefsumme.png", damaged_png, "CRC"),
    _bytes("abgeschnitten.png", lambda: half(encoded(noise(300, 300), "PNG")), "cut short"),
    _bytes("streifen.png", lambda: encoded(noise(5000, 1), "PNG"), "too small"),
    # JPEG
    _bytes("nur-signatur.jpg", lambda: b"\xff\xd8\xff" + b"\x00" * 64, DAMAGED_HEADERS),
    _bytes(
        "abgeschnitten.jpg", lambda: half(encoded(noise(400, 300), "JPEG")), "truncated", "worker"
    ),
    _bytes("zwei-koepfe.jpg", lambda: _two_frame_headers(), "cannot be decoded", "worker"),
    # TIFF
    _bytes("nur-signatur.tif", lambda: b"II*\x00" + b"\xff" * 64, DAMAGED_HEADERS),
    _bytes("breite-null.tif", lambda: tiff_claiming(0, 100), DAMAGED_HEADERS),
    _bytes("negativ.tif", lambda: tiff_claiming(-400, 300, signed=True), DAMAGED_HEADERS),
    _bytes("jpeg2000.tif", lambda: tiff_claiming(400, 300, compression=34712), DAMAGED_HEADERS),
    _bytes("ifd-verweis.tif", lambda: _tiff_with_ifd_at(10**9), DAMAGED_HEADERS),
    _bytes("riesig.tif", lambda: tiff_claiming(100_000, 100_000), "decompression bomb"),
    _bytes("streifen.tif", lambda: encoded(noise(1, 3000), "TIFF"), "too small"),
    _bytes(
        "abgeschnitten.tif", lambda: half(encoded(noise(400, 300), "TIFF")), "truncated", "worker"
    ),
    _bytes("ohne-bilddaten.tif", lambda: tiff_claiming(400, 300), "truncated", "worker"),
    _bytes("lzw-kaputt.tif", lambda: _damaged_lzw_tiff(), "cannot be decoded", "worker"),
    # a PDF whose page image is a bomb: only the worker looks inside the page
    _bytes("bild-bombe.pdf", pdf_with_bomb_image, "scan image", "worker"),
    # not a plain file
    _special("verweis.pdf", lambda folder: _link_outside(folder / "verweis.pdf"), "symbolic link"),
    _special(
        "ordnerverweis", lambda folder: _link(folder / "ordnerverweis", ".."), "symbolic link"
    ),
    _special(
        "ins-leere.pdf", lambda folder: _link(folder / "ins-leere.pdf", "fehlt"), "symbolic link"
    ),
    _special("pipe.pdf", lambda folder: os.mkfifo(folder / "pipe.pdf"), "not a regular file"),
    _special(
        "riesig.pdf",
        lambda folder: _sparse(folder / "riesig.pdf", 600 * MiB),
        "more than the limit",
    ),
]


def _text_bomb() -> bytes:
    """A compressed text chunk that would inflate to 60 MiB (Pillow stops at 1 MiB)."""
    return png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (60 * MiB), 9))


def _two_frame_headers() -> bytes:
    """A JPEG with a second frame header claiming 65535 x 65535 pixels before the real one."""
    data = encoded(noise(400, 300), "JPEG")
    return data[:2] + b"\xff\xc0\x00\x0b\x08\xff\xff\xff\xff\x01\x01\x11\x00" + data[2:]


def _tiff_with_ifd_at(offset: int) -> bytes:
    data = encoded(noise(400, 300), "TIFF")
    return data[:4] + struct.pack("<I", offset) + data[8:]


def _damaged_lzw_tiff() -> bytes:
    data = encoded(noise(400, 300, seed=3), "TIFF", compression="tiff_lzw")
    return data[:300] + b"\xff" * 2000 + data[2300:]


def _link(path: Path, target: str) -> None:
    os.symlink(target, path)


def _link_outside(path: Path) -> None:
    """A link to a real scan outside the hot folder (which must never be stored)."""
    target = path.parent.parent / "ausserhalb.pdf"
    target.write_bytes(blank_pdf())
    os.symlink(target, path)


def _sparse(path: Path, size: int) -> None:
    with path.open("wb") as fh:
        fh.write(blank_pdf())
        fh.truncate(size)  # sparse: no disk space, and never read
