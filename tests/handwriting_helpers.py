"""Test helpers: a factory document whose pages the handwriting detector has marked."""

from __future__ import annotations

from sqlalchemy import select

from mailroom.infra.db.models import Document, Page
from mailroom.runtime.context import AppContext

#: Regions (kind, box in page pixels) on page 1 of a 400 x 560 factory page.
REGIONS = [
    {"kind": "text", "box": [40, 120, 320, 200]},
    {"kind": "signature", "box": [40, 460, 160, 50]},
]


def mark_handwritten(ctx: AppContext, document_id: str, handwritten: str = "letter") -> None:
    """Put what the worker writes for a handwritten letter on the document and page 1."""
    with ctx.db.session() as session:
        doc = session.get(Document, document_id)
        assert doc is not None
        doc.handwritten = handwritten
        page = session.scalars(
            select(Page).where(Page.document_id == document_id, Page.number == 1)
        ).one()
        page.handwritten = handwritten
        page.handwriting = REGIONS
        page.orientation_check = "kept"
        page.second_pass = True
        page.dictionary_share = 0.41
