"""What the worker found about a page (handwriting, orientation check, second pass) lands in
the page rows, the document row, ``metadata.json`` and ``mailroom process --json``."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select

from mailroom.cli.run import document_summary
from mailroom.core.domain import (
    Box,
    CaseMatch,
    DocumentInput,
    Extraction,
    HandRegion,
    LayoutBlock,
    LayoutLine,
    PageLayout,
    PageOcr,
    PreparedPage,
    Recognized,
    RoutingResult,
)
from mailroom.infra.db import models
from mailroom.runtime.context import AppContext
from mailroom.runtime.pipeline import PipelineResult
from mailroom.runtime.rows import write_result
from tests.factories import make_document
from workers.record import OcrInfo, build_record

OBJECTS = {"pages": ["p1.jpg", "p2.jpg", "p3.jpg"], "metadata": "metadata.json"}
SIGNATURE = HandRegion(Box(200, 2900, 600, 150), "signature")
TEXT = HandRegion(Box(180, 900, 2100, 1800), "text")


def _recognized() -> Recognized:
    """Three pages: a handwritten letter turned upright, a blank back side, a printed form."""
    image = np.full((3508, 2480), 255, dtype=np.uint8)
    address = LayoutBlock(
        "address", Box(200, 500, 900, 300), (LayoutLine("Stadt", Box(200, 500, 300, 50)),)
    )
    pages = [
        PreparedPage(1, image, 300, rotation=180, skew_degrees=0.734),
        PreparedPage(2, image, 300, blank=True),
        PreparedPage(3, image, 300),
    ]
    results = [
        PageOcr(
            1, "Sehr geehrte", 61.5, layout=PageLayout((address,)), dictionary_share=0.38,
            orientation_check="corrected", second_pass=True, handwritten="letter",
            handwriting=[TEXT, SIGNATURE],
        ),
        PageOcr(2, "", None),
        PageOcr(3, "Antrag", 91.0, dictionary_share=0.9, orientation_check="kept"),
    ]  # fmt: skip
    return Recognized(pages, results)


def _result(recognized: Recognized, ctx: AppContext, doc_id: str) -> PipelineResult:
    """The pipeline's result for ``recognized``, its record mapped as the worker maps it."""
    doc = DocumentInput(
        doc_id, "brief.pdf", "application/pdf", "o", "0" * 64, 1, datetime.now(UTC), {}, None
    )
    routing = RoutingResult("402", "402.12", None, 0.5, "review", reasons=["Klärfall"])
    record = build_record(
        doc, recognized, Extraction(), CaseMatch(), routing,
        fileplan=ctx.fileplan, ocr=OcrInfo("tesseract", "5", "deu"), objects=OBJECTS,
    )  # fmt: skip
    return PipelineResult(doc, recognized, Extraction(), CaseMatch(), routing, record, 1.0)


def test_the_record_carries_handwriting_and_how_each_page_was_read(ctx: AppContext):
    record = _result(_recognized(), ctx, "d" * 32).record
    assert record.columns["handwritten"] == "letter"
    first, blank, form = record.pages
    assert first["handwritten"] == "letter" and first["second_pass"] is True
    assert first["handwriting"] == [
        {"kind": "text", "box": [180, 900, 2100, 1800]},
        {"kind": "signature", "box": [200, 2900, 600, 150]},
    ]
    assert (first["orientation_check"], form["orientation_check"]) == ("corrected", "kept")
    assert first["dictionary_share"] == 0.38 and blank["dictionary_share"] is None
    assert form["handwritten"] is None and form["handwriting"] == []
    meta = record.metadata
    assert meta["Handschrift"] == "letter" and meta["LeereSeiten"] == [2]
    page = meta["Seiten"][0]
    assert page["Seite"] == 1 and page["Drehung"] == 180 and page["Schraeglage"] == 0.73
    assert page["Ausrichtungspruefung"] == "corrected" and page["ZweiterDurchgang"] is True
    assert page["Handschrift"] == "letter" and page["Woerterbuchanteil"] == 0.38
    assert page["Handschriftbereiche"][1] == {"Art": "signature", "Box": [200, 2900, 600, 150]}
    assert [p["Leer"] for p in meta["Seiten"]] == [False, True, False]


def test_rows_and_process_json_read_back_the_same_after_reprocessing(ctx: AppContext):
    doc_id = make_document(ctx, department_id="402", state="review")
    result = _result(_recognized(), ctx, doc_id)
    for _ in range(2):  # a redelivered message writes the same rows again
        with ctx.db.session() as session:
            doc = session.get(models.Document, doc_id)
            assert doc is not None
            write_result(session, doc, result)
    out = document_summary(ctx, doc_id, "brief.pdf")
    assert out["pages"] == 3 and out["handwritten"] == "letter" and out["blank_pages"] == [2]
    first, blank, form = out["page_details"]
    assert first == {
        "number": 1,
        "rotation": 180,
        "skew": 0.73,
        "confidence": 61.5,
        "blank": False,
        "orientation_check": "corrected",
        "second_pass": True,
        "handwritten": "letter",
        "handwriting": [
            {"kind": "text", "box": [180, 900, 2100, 1800]},
            {"kind": "signature", "box": [200, 2900, 600, 150]},
        ],
        "layout": [{"kind": "address", "box": [200, 500, 900, 300]}],
    }
    assert blank["blank"] is True and blank["confidence"] is None and blank["layout"] == []
    assert form["second_pass"] is False and form["handwritten"] is None
    with ctx.db.session() as session:
        pages = session.scalars(select(models.Page).where(models.Page.document_id == doc_id))
        assert [p.number for p in pages] == [1, 2, 3]
