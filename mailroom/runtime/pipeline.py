"""The worker pipeline: an explicit, ordered list of small stages.

    load original -> rasterize -> preprocess + OCR -> extract -> match case -> classify
    -> render outputs -> store objects

Each stage takes typed values (``mailroom.domain``) and the application context and
returns typed values. The database is not touched here: :mod:`workers.processor` loads
the document before and commits the result after, so no transaction is held open while
Tesseract runs.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from classifiers.cases import CaseIndex
from classifiers.extract import extract
from mailroom.core.domain import (
    CaseMatch,
    Extraction,
    PageImage,
    PageOcr,
    PreparedPage,
    RoutingResult,
)
from mailroom.core.errors import ProcessingError
from mailroom.infra.db import models
from mailroom.infra.objects import document_key
from mailroom.runtime.context import AppContext
from workers.preprocess import prepare_page
from workers.rasterize import rasterize, sniff_media_type
from workers.recognize import recognize_page
from workers.record import build_metadata
from workers.searchable_pdf import build_searchable_pdf, encode_page_image

log = logging.getLogger(__name__)

Heartbeat = Callable[[], None]


@dataclass(frozen=True)
class DocumentInput:
    """What the pipeline needs to know about a registered document."""

    id: str
    source_name: str
    media_type: str
    original_key: str
    sha256: str
    size_bytes: int
    received_at: datetime
    scan_line: dict[str, Any]
    batch: dict[str, Any] | None

    @classmethod
    def from_row(cls, doc: models.Document) -> DocumentInput:
        if not doc.original_key:
            raise ProcessingError(f"document {doc.id} has no stored original")
        return cls(
            id=doc.id,
            source_name=doc.source_name,
            media_type=doc.media_type,
            original_key=doc.original_key,
            sha256=doc.sha256,
            size_bytes=doc.size_bytes,
            received_at=doc.received_at,
            scan_line={
                "ID": doc.scan_line_id,
                "Name": doc.scan_line.name if doc.scan_line else None,
            },
            batch={"ID": doc.batch.id, "Name": doc.batch.name} if doc.batch else None,
        )


@dataclass
class Recognized:
    """The prepared pages and their OCR results, in page order."""

    pages: list[PreparedPage]
    results: list[PageOcr]

    @property
    def text(self) -> str:
        return "\n\n".join(r.text for r in self.results if r.text)

    @property
    def mean_confidence(self) -> float | None:
        confs = [r.confidence for r in self.results if r.confidence is not None]
        return round(sum(confs) / len(confs), 2) if confs else None


@dataclass
class PipelineResult:
    doc: DocumentInput
    recognized: Recognized
    extraction: Extraction
    case_match: CaseMatch
    routing: RoutingResult
    objects: dict[str, Any]
    metadata: dict[str, Any]
    seconds: float


# --- stages ------------------------------------------------------------------------


def load_original(doc: DocumentInput, ctx: AppContext) -> bytes:
    return ctx.store.get(doc.original_key)


def rasterize_stage(data: bytes, media_type: str | None, ctx: AppContext) -> list[PageImage]:
    s = ctx.settings
    return rasterize(
        data,
        media_type or sniff_media_type(data),
        dpi=s.rasterize_dpi,
        max_pixels=s.max_page_pixels,
        max_pages=s.max_pages,
    )


def recognize_stage(
    pages: list[PageImage], ctx: AppContext, heartbeat: Heartbeat | None = None
) -> Recognized:
    prepared: list[PreparedPage] = []
    results: list[PageOcr] = []
    for page in pages:
        upright, ocr = recognize_page(prepare_page(page), ctx.ocr)
        prepared.append(upright)
        results.append(ocr)
        if heartbeat is not None:
            heartbeat()
    return Recognized(prepared, results)


def extract_stage(text: str, ctx: AppContext) -> Extraction:
    return extract(text, ctx.fileplan)


def match_case_stage(extraction: Extraction, ctx: AppContext) -> CaseMatch:
    with ctx.db.session() as session:
        index = CaseIndex.load(session)
    return index.match(extraction)


def classify_stage(
    text: str, extraction: Extraction, case_match: CaseMatch, ctx: AppContext
) -> RoutingResult:
    return ctx.registry.router().route(text, extraction, case_match)


def store_stage(
    doc: DocumentInput,
    recognized: Recognized,
    extraction: Extraction,
    case_match: CaseMatch,
    routing: RoutingResult,
    ctx: AppContext,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write searchable PDF, text, page images and ``metadata.json``; return keys + record.

    Keys are derived from the document id, so a redelivered message overwrites the same
    objects: reprocessing is idempotent. ``metadata.json`` is written last.
    """
    headers = _object_headers(doc, routing, case_match)
    store = ctx.store
    images = [encode_page_image(page) for page in recognized.pages]
    pdf = build_searchable_pdf(
        recognized.pages,
        recognized.results,
        images=images,
        title=extraction.subject or doc.source_name,
        created=doc.received_at,
    )
    objects: dict[str, Any] = {"original": doc.original_key}
    objects["pdf"] = store.put(
        document_key(doc.id, "document.pdf"), pdf, "application/pdf", headers
    ).key
    objects["text"] = store.put(
        document_key(doc.id, "text.txt"),
        recognized.text.encode(),
        "text/plain; charset=utf-8",
        headers,
    ).key
    objects["pages"] = [
        store.put(
            document_key(doc.id, f"pages/{page.number:04d}.jpg"), jpeg, "image/jpeg", headers
        ).key
        for page, jpeg in zip(recognized.pages, images, strict=True)
    ]
    # Per-word text, confidence and box, for the UI and for later re-training on OCR errors.
    objects["words"] = [
        store.put(
            document_key(doc.id, f"pages/{ocr.number:04d}.words.json"),
            json.dumps(
                [
                    {
                        "text": w.text,
                        "conf": round(w.confidence, 1),
                        "line": w.line,
                        "box": [w.box.left, w.box.top, w.box.width, w.box.height],
                    }
                    for w in ocr.words
                ],
                ensure_ascii=False,
            ).encode(),
            "application/json",
            headers,
        ).key
        for ocr in recognized.results
    ]
    objects["metadata"] = document_key(doc.id, "metadata.json")
    engine = recognized.results[0].engine if recognized.results else ""
    metadata = build_metadata(
        document_id=doc.id,
        source_name=doc.source_name,
        sha256=doc.sha256,
        media_type=doc.media_type,
        size_bytes=doc.size_bytes,
        received_at=doc.received_at,
        scan_line=doc.scan_line,
        batch=doc.batch,
        pages=recognized.results,
        blank_pages=[p.number for p in recognized.pages if p.blank],
        ocr={
            "Engine": engine,
            "Version": getattr(ctx.ocr, "version", None),
            "Sprache": ctx.settings.ocr_language,
            "MittlereKonfidenz": recognized.mean_confidence,
        },
        extraction=extraction,
        case_match=case_match,
        routing=routing,
        fileplan=ctx.fileplan,
        objects=objects,
    )
    body = json.dumps(metadata, ensure_ascii=False, indent=2).encode()
    store.put(objects["metadata"], body, "application/json; charset=utf-8", headers)
    return objects, metadata


def _object_headers(
    doc: DocumentInput, routing: RoutingResult, case_match: CaseMatch
) -> dict[str, str]:
    headers = {"document-id": doc.id, "decision": routing.decision}
    if routing.department_id:
        headers["department"] = routing.department_id
    if routing.unit_code:
        headers["fileplan-unit"] = routing.unit_code
    if case_match.case is not None and routing.case_id is not None:
        headers["case"] = case_match.case.aktenzeichen
    return headers


# --- the pipeline --------------------------------------------------------------------


def run_pipeline(
    doc: DocumentInput, ctx: AppContext, heartbeat: Heartbeat | None = None
) -> PipelineResult:
    """Run every stage for one document. Raises mailroom errors; touches no database row."""
    started = time.perf_counter()
    data = load_original(doc, ctx)
    pages = rasterize_stage(data, doc.media_type, ctx)
    recognized = recognize_stage(pages, ctx, heartbeat)
    text = recognized.text
    extraction = extract_stage(text, ctx)
    case_match = match_case_stage(extraction, ctx)
    routing = classify_stage(text, extraction, case_match, ctx)
    objects, metadata = store_stage(doc, recognized, extraction, case_match, routing, ctx)
    seconds = time.perf_counter() - started
    log.info(
        "document %s: %d pages, %s -> %s/%s (%.2f) in %.1fs",
        doc.id,
        len(pages),
        routing.decision,
        routing.department_id,
        routing.unit_code,
        routing.confidence,
        seconds,
    )
    return PipelineResult(
        doc, recognized, extraction, case_match, routing, objects, metadata, seconds
    )


def recognize_file(
    data: bytes, ctx: AppContext, *, media_type: str | None = None
) -> list[tuple[PreparedPage, PageOcr]]:
    """Rasterise and recognise a file outside the queue (training imports, evaluation)."""
    pages = rasterize_stage(data, media_type, ctx)
    recognized = recognize_stage(pages, ctx)
    return list(zip(recognized.pages, recognized.results, strict=True))
