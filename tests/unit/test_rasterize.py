"""Rasterize: file bytes -> grayscale pages, with the right error for every bad input."""

from __future__ import annotations

import io
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    BooleanObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    StreamObject,
)

from mailroom.core.domain import PageImage
from mailroom.core.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedDocument,
    FileTooLarge,
    UnsupportedFileType,
)
from mailroom.core.media import sniff_media_type
from mailroom.demo.scan import (
    EXAMPLE_LETTER,
    degrade,
    pdf_bytes,
    png_bytes,
    render_page,
    tiff_bytes,
)
from mailroom.infra import poppler
from mailroom.infra.tesseract import TesseractEngine
from workers.pdf_scans import find_scan_images
from workers.preprocess import prepare_page
from workers.rasterize import rasterize
from workers.recognize import recognize_page

LIMITS = {"dpi": 300, "max_pixels": 120_000_000, "max_pages": 50}


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return render_page(EXAMPLE_LETTER, seed=1)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )


def _pdf(
    width_pt: float = 595, height_pt: float = 842, pages: int = 1, password: str = ""
) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=width_pt, height=height_pt)
    if password:
        writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_media_type_is_read_from_magic_bytes(page: np.ndarray) -> None:
    assert sniff_media_type(png_bytes(page)) == "image/png"
    assert sniff_media_type(tiff_bytes([page])) == "image/tiff"
    assert sniff_media_type(pdf_bytes([page])) == "application/pdf"
    jpeg = io.BytesIO()
    Image.fromarray(page).save(jpeg, format="JPEG")
    assert sniff_media_type(jpeg.getvalue()) == "image/jpeg"


def test_empty_and_foreign_files_are_refused() -> None:
    with pytest.raises(EmptyFile):
        sniff_media_type(b"")
    with pytest.raises(UnsupportedFileType):
        sniff_media_type(b"PK\x03\x04 a zip file, not a scan")
    with pytest.raises(EmptyFile):
        rasterize(b"", "image/png", **LIMITS)


def test_multi_page_tiff_gives_every_page_with_its_resolution(page: np.ndarray) -> None:
    blank = np.full_like(page, 255)
    pages = rasterize(tiff_bytes([page, blank], dpi=200), "image/tiff", **LIMITS)
    assert [p.number for p in pages] == [1, 2]
    assert all(p.dpi == 200 and p.image.dtype == np.uint8 for p in pages)
    assert np.array_equal(pages[0].image, page)


def test_image_without_resolution_is_assumed_300_dpi(page: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format="PNG")  # no pHYs chunk
    (only,) = rasterize(buffer.getvalue(), "image/png", **LIMITS)
    assert only.dpi == 300


def test_scanner_pdf_is_rendered_in_grayscale_at_the_requested_dpi(page: np.ndarray) -> None:
    pages = rasterize(pdf_bytes([page, page]), "application/pdf", **LIMITS)
    assert len(pages) == 2
    assert pages[0].image.ndim == 2
    assert abs(pages[0].image.shape[1] - 2480) <= 2 and pages[0].dpi == 300


def test_decompression_bomb_png_is_refused_before_decoding() -> None:
    with pytest.raises(FileTooLarge, match="decompression bomb"):
        rasterize(_png_claiming(40_000, 40_000), "image/png", **LIMITS)


def test_page_above_configured_pixel_limit_is_refused(page: np.ndarray) -> None:
    limits = {**LIMITS, "max_pixels": 1_000_000}
    with pytest.raises(FileTooLarge, match="pixels"):
        rasterize(png_bytes(page), "image/png", **limits)


def test_huge_pdf_page_is_refused_before_rendering() -> None:
    # 200 x 200 inches: 3.6 billion pixels at 300 dpi, refused from pdfinfo's numbers.
    with pytest.raises(FileTooLarge, match="decompression bomb"):
        rasterize(_pdf(14_400, 14_400), "application/pdf", **LIMITS)


def test_too_many_pages_are_refused(page: np.ndarray) -> None:
    with pytest.raises(FileTooLarge, match="pages"):
        rasterize(tiff_bytes([page] * 3), "image/tiff", **{**LIMITS, "max_pages": 2})
    with pytest.raises(FileTooLarge, match="pages"):
        rasterize(_pdf(pages=3), "application/pdf", **{**LIMITS, "max_pages": 2})


def test_corrupt_files_raise_corrupt_file(page: np.ndarray) -> None:
    truncated_png = png_bytes(page)[:5000]
    with pytest.raises(CorruptFile):
        rasterize(truncated_png, "image/png", **LIMITS)
    with pytest.raises(CorruptFile):
        rasterize(b"%PDF-1.7\nthis is no pdf at all\n", "application/pdf", **LIMITS)
    with pytest.raises(CorruptFile):
        rasterize(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png", **LIMITS)


def test_password_protected_pdf_raises_encrypted_document() -> None:
    with pytest.raises(EncryptedDocument, match="password"):
        rasterize(_pdf(password="geheim"), "application/pdf", **LIMITS)


def test_pdf_without_pages_raises_empty_file() -> None:
    with pytest.raises(EmptyFile):
        rasterize(_pdf(pages=0), "application/pdf", **LIMITS)


# --- scanner PDFs: the page image is taken out directly, everything else is rendered ------


def _pdf_with_content(
    content: bytes, image: ImageSpec | None = None, *, rotate: int = 0, font: bool = False
) -> bytes:
    """A one-page A4 PDF with the given content stream, an optional image /Im0 and font /F1."""
    writer = PdfWriter()
    pdf_page = writer.add_blank_page(width=595.2, height=841.92)
    resources = DictionaryObject()
    if image is not None:
        stream = StreamObject()
        stream.set_data(image.data)
        stream.update({NameObject(k): v for k, v in image.entries.items()})
        stream[NameObject("/Type")] = NameObject("/XObject")
        stream[NameObject("/Subtype")] = NameObject("/Image")
        xobjects = DictionaryObject({NameObject("/Im0"): writer._add_object(stream)})
        resources[NameObject("/XObject")] = xobjects
    if font:
        helvetica = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
        resources[NameObject("/Font")] = DictionaryObject({NameObject("/F1"): helvetica})
    pdf_page[NameObject("/Resources")] = resources
    contents = StreamObject()
    contents.set_data(content)
    pdf_page[NameObject("/Contents")] = writer._add_object(contents)
    if rotate:
        pdf_page.rotate(rotate)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


class ImageSpec:
    """An image XObject: already-encoded data plus its dictionary entries."""

    def __init__(self, data: bytes, **entries: object) -> None:
        self.data = data
        self.entries = {f"/{k}": v for k, v in entries.items()}


_PLACE_IMAGE = b"q 595.2 0 0 841.92 0 0 cm /Im0 Do Q\n"


def _flate_gray(pixels: np.ndarray) -> ImageSpec:
    return ImageSpec(
        zlib.compress(pixels.tobytes()),
        Filter=NameObject("/FlateDecode"),
        Width=NumberObject(pixels.shape[1]),
        Height=NumberObject(pixels.shape[0]),
        BitsPerComponent=NumberObject(8),
        ColorSpace=NameObject("/DeviceGray"),
    )


def _g4_pdf(binary: np.ndarray, *, black_is_1: bool, decode_inverted: bool) -> bytes:
    """A CCITT G4 page as scanners write black-and-white pages, in all flag combinations."""
    buffer = io.BytesIO()
    Image.fromarray(binary).convert("1").save(buffer, format="PDF", resolution=300.0)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(buffer.getvalue())))
    resources = writer.pages[0]["/Resources"].get_object()
    (image,) = [ref.get_object() for ref in resources["/XObject"].values()]  # type: ignore[index]
    image["/DecodeParms"][0][NameObject("/BlackIs1")] = BooleanObject(black_is_1)
    if decode_inverted:
        image[NameObject("/Decode")] = ArrayObject([NumberObject(1), NumberObject(0)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _rendered(data: bytes) -> np.ndarray:
    """What Poppler draws for page 1 at 300 dpi (the reference for the direct path)."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(data)
        handle.flush()
        return poppler.render_pages(Path(handle.name), dpi=300, first=1, last=1)[0]


def test_scanner_pdf_page_is_taken_from_its_jpeg_without_rendering(page: np.ndarray) -> None:
    data = pdf_bytes([page, page])
    scans = find_scan_images(data, 2)
    assert all(scan is not None and scan.kind == "jpeg" and scan.dpi == 300 for scan in scans)
    pages = rasterize(data, "application/pdf", **LIMITS)
    assert [p.number for p in pages] == [1, 2]
    assert pages[0].image.shape == page.shape and pages[0].dpi == 300
    # JPEG at quality 85: close to the original, closer than Poppler's resampled drawing.
    direct = np.abs(pages[0].image.astype(int) - page).mean()
    assert direct < 2.0
    assert direct <= np.abs(_rendered(data).astype(int) - page).mean()


def test_scanner_pdf_gives_the_same_text_as_the_rendered_page(page: np.ndarray) -> None:
    engine = TesseractEngine(language="deu")
    data = pdf_bytes([degrade(page, skew=1.5, noise=0.2, seed=4)])
    (direct,) = rasterize(data, "application/pdf", **LIMITS)
    texts = [
        recognize_page(prepare_page(PageImage(1, image, 300)), engine)[1].text.split()
        for image in (direct.image, _rendered(data))
    ]
    assert "Unterhaltsvorschuss" in texts[0]
    differing = sum(a != b for a, b in zip(*texts, strict=False))
    assert abs(len(texts[0]) - len(texts[1])) <= 1 and differing <= 1


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_rotated_scanner_page_comes_out_as_a_viewer_shows_it(page: np.ndarray, turn: int) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([page]))))
    writer.pages[0].rotate(turn)
    buffer = io.BytesIO()
    writer.write(buffer)
    (scan,) = find_scan_images(buffer.getvalue(), 1)
    assert scan is not None and scan.rotate == turn
    (only,) = rasterize(buffer.getvalue(), "application/pdf", **LIMITS)
    assert only.image.shape == np.rot90(page, k=-turn // 90).shape
    assert np.abs(only.image.astype(int) - _rendered(buffer.getvalue())).mean() < 5


@pytest.mark.parametrize(
    ("black_is_1", "decode_inverted"), [(True, False), (False, False), (False, True), (True, True)]
)
def test_black_and_white_fax_page_decodes_as_poppler_draws_it(
    page: np.ndarray, black_is_1: bool, decode_inverted: bool
) -> None:
    binary = np.where(page < 128, 0, 255).astype(np.uint8)
    data = _g4_pdf(binary, black_is_1=black_is_1, decode_inverted=decode_inverted)
    (scan,) = find_scan_images(data, 1)
    assert scan is not None and scan.kind == "ccitt"
    (only,) = rasterize(data, "application/pdf", **LIMITS)
    assert np.abs(only.image.astype(int) - _rendered(data)).mean() < 3
    assert set(np.unique(only.image)) <= {0, 255}


def test_flate_page_at_200_dpi_keeps_its_own_resolution(page: np.ndarray) -> None:
    small = np.asarray(page[::3, ::3][:, :1653], dtype=np.uint8)  # ~100 dpi would be too few
    half = np.ascontiguousarray(np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)[:2339, :1653])
    data = _pdf_with_content(_PLACE_IMAGE, _flate_gray(half))
    (only,) = rasterize(data, "application/pdf", **LIMITS)
    assert only.dpi == 200 and np.array_equal(only.image, half)


def test_scan_with_an_invisible_ocr_text_layer_is_still_taken_directly(page: np.ndarray) -> None:
    layer = b"BT 3 Tr /F1 12 Tf 72 700 Td (Unsichtbar) Tj ET\n"
    data = _pdf_with_content(_PLACE_IMAGE + layer, _flate_gray(page), font=True)
    (scan,) = find_scan_images(data, 1)
    assert scan is not None


def test_born_digital_pdf_with_text_and_vector_graphics_is_rendered(page: np.ndarray) -> None:
    drawing = b"BT /F1 24 Tf 72 760 Td (Bescheid) Tj ET\n0 0 0 rg 72 600 200 50 re f\n"
    data = _pdf_with_content(_PLACE_IMAGE + drawing, _flate_gray(page), font=True)
    assert find_scan_images(data, 1) == [None]
    (only,) = rasterize(data, "application/pdf", **LIMITS)
    assert only.dpi == 300
    # The filled rectangle (72..272 pt across, 192..242 pt from the top) is drawn black.
    assert only.image[round(200 / 72 * 300), round(150 / 72 * 300)] < 30
    vector_only = _pdf_with_content(drawing, font=True)
    assert find_scan_images(vector_only, 1) == [None]


def test_visible_text_over_a_scan_forces_rendering(page: np.ndarray) -> None:
    stamp = b"BT /F1 24 Tf 72 760 Td (KOPIE) Tj ET\n"
    data = _pdf_with_content(_PLACE_IMAGE + stamp, _flate_gray(page), font=True)
    assert find_scan_images(data, 1) == [None]


def test_huge_embedded_scan_image_is_refused_before_decoding() -> None:
    bomb = ImageSpec(
        zlib.compress(b"\x00" * 1000),
        Filter=NameObject("/FlateDecode"),
        Width=NumberObject(40_000),
        Height=NumberObject(40_000),
        BitsPerComponent=NumberObject(8),
        ColorSpace=NameObject("/DeviceGray"),
    )
    with pytest.raises(FileTooLarge, match="scan image"):
        rasterize(_pdf_with_content(_PLACE_IMAGE, bomb), "application/pdf", **LIMITS)


def test_lossless_scanner_pdf_gives_back_the_exact_pixels(page: np.ndarray) -> None:
    noisy = degrade(page, noise=0.3, background="uneven", seed=5)
    (only,) = rasterize(pdf_bytes([noisy], quality=None), "application/pdf", **LIMITS)
    assert only.dpi == 300 and np.array_equal(only.image, noisy)
