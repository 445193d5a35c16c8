"""Stage *store*: the document's products in the object store.

Searchable PDF/A, plain text, one JPEG per page (the clerk's page view) and the words with
their boxes and confidences, then ``metadata.json`` last. Keys derive from the document id
(:func:`~mailroom.infra.objects.document_key`), so a redelivered message overwrites the same
objects: reprocessing is idempotent.
"""

from __future__ import annotations

import json
from typing import Any

from mailroom.core.domain import CaseMatch, DocumentInput, PageOcr, Recognized, RoutingResult
from mailroom.infra.objects import ObjectStore, document_key
from workers.record import DmsRecord
from workers.searchable_pdf import build_searchable_pdf, encode_page_image

JSON = "application/json"


def store_products(
    store: ObjectStore,
    doc: DocumentInput,
    recognized: Recognized,
    *,
    title: str,
    headers: dict[str, str],
) -> dict[str, Any]:
    """Write PDF, text, page images and words; return their keys (``metadata`` included)."""
    images = [encode_page_image(page) for page in recognized.pages]
    pdf = build_searchable_pdf(
        recognized.pages, recognized.results, images=images, title=title, created=doc.received_at
    )

    def put(name: str, data: bytes, content_type: str) -> str:
        return store.put(document_key(doc.id, name), data, content_type, headers).key

    return {
        "original": doc.original_key,
        "pdf": put("document.pdf", pdf, "application/pdf"),
        "text": put("text.txt", recognized.text.encode(), "text/plain; charset=utf-8"),
        "pages": [
            put(f"pages/{page.number:04d}.jpg", jpeg, "image/jpeg")
            for page, jpeg in zip(recognized.pages, images, strict=True)
        ],
        # Per-word text, confidence and box, for the UI and for re-training on OCR errors.
        "words": [
            put(f"pages/{ocr.number:04d}.words.json", _words_json(ocr), JSON)
            for ocr in recognized.results
        ],
        "metadata": document_key(doc.id, "metadata.json"),
    }


def store_metadata(store: ObjectStore, record: DmsRecord, headers: dict[str, str]) -> None:
    """Write ``metadata.json``, the last object: its presence means the rest is there."""
    body = json.dumps(record.metadata, ensure_ascii=False, indent=2).encode()
    store.put(record.objects["metadata"], body, f"{JSON}; charset=utf-8", headers)


def object_headers(
    doc: DocumentInput, routing: RoutingResult, case_match: CaseMatch
) -> dict[str, str]:
    """User metadata on every object: where the document was routed."""
    headers = {"document-id": doc.id, "decision": routing.decision}
    if routing.department_id:
        headers["department"] = routing.department_id
    if routing.unit_code:
        headers["fileplan-unit"] = routing.unit_code
    if case_match.case is not None and routing.case_id is not None:
        headers["case"] = case_match.case.aktenzeichen
    return headers


def _words_json(ocr: PageOcr) -> bytes:
    words = [
        {
            "text": w.text,
            "conf": round(w.confidence, 1),
            "line": w.line,
            "box": [w.box.left, w.box.top, w.box.width, w.box.height],
        }
        for w in ocr.words
    ]
    return json.dumps(words, ensure_ascii=False).encode()
