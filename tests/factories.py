"""The document factory: rows and objects as the pipeline leaves them, in any state."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from PIL import Image, ImageDraw

from classifiers.references import normalize
from mailroom.infra.db.models import Case, Document, Page
from mailroom.infra.objects import document_key
from mailroom.runtime.context import AppContext

#: The file-plan unit a factory document of a department is filed under.
UNIT_OF = {"402": "402.12", "304": "304.10", "404": "404.10"}


def page_jpeg(label: str = "Seite", size: tuple[int, int] = (400, 560)) -> bytes:
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).text((30, 40), label, fill=0)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


def small_pdf() -> bytes:
    out = io.BytesIO()
    Image.new("L", (200, 280), 255).save(out, "PDF")
    return out.getvalue()


def make_document(
    ctx: AppContext,
    *,
    department_id: str | None = "402",
    state: str = "routed",
    subject: str = "Antrag auf Förderung",
    sender: str = "Erika Mustermann, Hauptstr. 1, 42103 Wuppertal",
    text: str | None = None,
    confidence: float | None = 0.93,
    reason: str | None = None,
    scan_line_id: str = "scan-1",
    received_at: datetime | None = None,
    processed_at: datetime | None = None,
    page_count: int = 1,
    case: str | None = None,
) -> str:
    """A document row in ``state`` with its objects in ``ctx.store``, shaped like the
    pipeline's output but written directly: no audit entries, no routing decision rows."""
    received = received_at or datetime.now(UTC) - timedelta(minutes=30)
    unit = UNIT_OF.get(department_id or "")
    with ctx.db.session() as session:
        doc = Document(
            scan_line_id=scan_line_id,
            source_name=f"{re.sub(r'[^a-z0-9]+', '-', subject.lower())[:40]}.pdf",
            sha256="0" * 64,
            size_bytes=1234,
            media_type="application/pdf",
            state=state,
            state_reason=reason,
            received_at=received,
            updated_at=received,
        )
        session.add(doc)
        session.flush()
        in_inbox = state in ("routed", "review", "accepted")
        doc.text = (
            text if text is not None else f"Betreff: {subject}\nSehr geehrte Damen und Herren"
        )
        if in_inbox or state in ("failed", "quarantined"):
            original = document_key(doc.id, "original.pdf")
            ctx.store.put(original, small_pdf(), "application/pdf")
            doc.original_key = original
            doc.objects = {"original": original}
        if in_inbox:
            pdf_key = document_key(doc.id, "document.pdf")
            ctx.store.put(pdf_key, small_pdf(), "application/pdf")
            page_keys = []
            for n in range(1, page_count + 1):
                key = document_key(doc.id, f"pages/{n:04d}.jpg")
                ctx.store.put(key, page_jpeg(f"Seite {n}"), "image/jpeg")
                page_keys.append(key)
                session.add(
                    Page(
                        document_id=doc.id,
                        number=n,
                        width=400,
                        height=560,
                        dpi=100,
                        text=doc.text,
                        ocr_confidence=88.0,
                        image_key=key,
                        low_confidence_regions=[[30, 40, 120, 20]],
                    )
                )
            doc.objects = {"original": original, "pdf": pdf_key, "pages": page_keys}
            doc.page_count = page_count
            doc.subject = subject
            doc.sender = sender
            doc.department_id = department_id
            doc.unit_code = unit
            doc.confidence = confidence
            doc.decision = "auto" if state == "routed" else "review"
            doc.classifier_version = "test-1"
            doc.alternatives = [
                {"unit_code": unit, "department_id": department_id, "probability": confidence},
                {"unit_code": "404.10", "department_id": "404", "probability": 0.04},
            ]
            doc.reasons = [f"An das Amt {department_id} adressiert", "Klassifikator: 93 %"]
            doc.processed_at = processed_at or received + timedelta(minutes=1)
            doc.processing_seconds = 4.2
        if case is not None and unit is not None:
            row = Case(
                aktenzeichen=case,
                reference_key=normalize(case),
                unit_code=unit,
                subject="Testvorgang",
            )
            session.add(row)
            session.flush()
            doc.case_id = row.id
        return doc.id
