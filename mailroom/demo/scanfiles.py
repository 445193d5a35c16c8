"""Scanner files of sample pages: PNG, multi-page TIFF and image-only PDF.

The resolution is recorded in every file, so the OCR stages see the page size a scanner
reports.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, NumberObject, StreamObject

from mailroom.core.domain import GrayImage

DPI = 300
ColourImage = npt.NDArray[np.uint8]  # H x W x 3, RGB


def _pil(image: GrayImage) -> Image.Image:
    return Image.fromarray(image, mode="L")


def png_bytes(image: GrayImage, *, dpi: int = DPI) -> bytes:
    """One page as PNG with its resolution recorded."""
    buffer = io.BytesIO()
    _pil(image).save(buffer, format="PNG", dpi=(dpi, dpi), compress_level=1)
    return buffer.getvalue()


def jpeg_bytes(image: GrayImage | ColourImage, *, quality: int = 85, dpi: int = DPI) -> bytes:
    """One page, grey or colour (RGB), as JPEG with its resolution recorded."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality, dpi=(dpi, dpi))
    return buffer.getvalue()


def tiff_bytes(pages: Sequence[GrayImage], *, dpi: int = DPI) -> bytes:
    """Several pages as one multi-page TIFF (LZW), as many scan lines deliver them."""
    images = [_pil(p) for p in pages]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="TIFF",
        save_all=True,
        append_images=images[1:],
        dpi=(dpi, dpi),
        compression="tiff_lzw",
    )
    return buffer.getvalue()


def pdf_bytes(pages: Sequence[GrayImage], *, dpi: int = DPI, quality: int | None = 85) -> bytes:
    """An image-only PDF, one page image per page, as a scanner writes it.

    ``quality`` is the JPEG quality of the page images; ``None`` stores them losslessly
    (Flate), so that a PDF reader sees exactly the pixels of :func:`png_bytes`.
    """
    if quality is None:
        return _lossless_pdf(pages, dpi)
    images = [_pil(p) for p in pages]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="PDF",
        save_all=True,
        append_images=images[1:],
        resolution=float(dpi),
        quality=quality,
    )
    return buffer.getvalue()


def _lossless_pdf(pages: Sequence[GrayImage], dpi: int) -> bytes:
    writer = PdfWriter()
    for pixels in pages:
        height, width = pixels.shape
        size = (width / dpi * 72, height / dpi * 72)
        page = writer.add_blank_page(width=size[0], height=size[1])
        image = StreamObject()
        image.set_data(zlib.compress(np.ascontiguousarray(pixels).tobytes(), 6))
        image.update(
            {
                NameObject("/Type"): NameObject("/XObject"),
                NameObject("/Subtype"): NameObject("/Image"),
                NameObject("/Filter"): NameObject("/FlateDecode"),
                NameObject("/Width"): NumberObject(width),
                NameObject("/Height"): NumberObject(height),
                NameObject("/BitsPerComponent"): NumberObject(8),
                NameObject("/ColorSpace"): NameObject("/DeviceGray"),
            }
        )
        xobjects = DictionaryObject({NameObject("/Im0"): writer._add_object(image)})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/XObject"): xobjects})
        content = StreamObject()
        content.set_data(f"q {size[0]:.4f} 0 0 {size[1]:.4f} 0 0 cm /Im0 Do Q\n".encode())
        page[NameObject("/Contents")] = writer._add_object(content)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def write_png(image: GrayImage, path: Path, *, dpi: int = DPI) -> Path:
    """Write one page as PNG file."""
    path.write_bytes(png_bytes(image, dpi=dpi))
    return path


def write_tiff(pages: Sequence[GrayImage], path: Path, *, dpi: int = DPI) -> Path:
    """Write pages as one multi-page TIFF file."""
    path.write_bytes(tiff_bytes(pages, dpi=dpi))
    return path


def write_pdf(pages: Sequence[GrayImage], path: Path, *, dpi: int = DPI) -> Path:
    """Write pages as one image-only PDF file."""
    path.write_bytes(pdf_bytes(pages, dpi=dpi))
    return path
