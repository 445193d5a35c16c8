"""Stage *searchable PDF*: page images with an invisible, correctly placed text layer.

Tesseract already wrote a one-page PDF (image + invisible text) in the same run that read
the page; those pages are merged here with pypdf, nothing is recognised twice. Blank pages
and pages from an engine without PDF output become image-only pages. Page images are
JPEG (DCT) as Tesseract writes them - never JBIG2, which BSI TR-RESISCAN forbids because
its symbol coding can swap look-alike characters.
"""

from __future__ import annotations

import io

from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.errors import PdfReadError

from mailroom.domain import PageOcr, PreparedPage
from mailroom.errors import OcrError

PRODUCER = "mailroom (Tesseract text layer)"


def build_searchable_pdf(pages: list[PreparedPage], results: list[PageOcr]) -> bytes:
    """One PDF: every page's image, with an invisible text layer where text was read.

    ``pages`` and ``results`` are parallel lists (as returned by ``recognize_page``).
    """
    if len(pages) != len(results):
        raise ValueError(f"{len(pages)} pages but {len(results)} OCR results")
    if not pages:
        raise ValueError("a searchable PDF needs at least one page")
    writer = PdfWriter()
    for page, result in zip(pages, results, strict=True):
        one_page = result.pdf if (result.pdf and not page.blank) else image_only_pdf(page)
        try:
            reader = PdfReader(io.BytesIO(one_page))
            writer.add_page(reader.pages[0])
        except (PdfReadError, IndexError, ValueError) as exc:
            raise OcrError(
                f"the OCR output of page {page.number} is not a readable PDF: {exc}",
                hint="recognise the document again",
            ) from exc
    writer.add_metadata({"/Producer": PRODUCER, "/Creator": PRODUCER})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def image_only_pdf(page: PreparedPage, *, quality: int = 85) -> bytes:
    """A one-page PDF showing just the page image at its true size (JPEG-compressed)."""
    buffer = io.BytesIO()
    Image.fromarray(page.image, mode="L").save(
        buffer, format="PDF", resolution=float(page.dpi), quality=quality
    )
    return buffer.getvalue()
