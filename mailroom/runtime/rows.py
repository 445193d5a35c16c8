"""What a worker reads from a document's row, and writes onto it when it is done."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from mailroom.core.domain import DocumentInput
from mailroom.core.errors import ProcessingError
from mailroom.infra.db import models
from mailroom.infra.db.models import utcnow
from mailroom.runtime.pipeline import PipelineResult


def write_result(session: Session, doc: models.Document, result: PipelineResult) -> None:
    """Put the DMS record's values on the document row and replace its pages."""
    session.execute(delete(models.Page).where(models.Page.document_id == doc.id))
    session.expire(doc, ["pages"])
    for values in result.record.pages:
        session.add(models.Page(document_id=doc.id, **values))
    for column, value in result.record.columns.items():
        setattr(doc, column, value)
    doc.processed_at = utcnow()
    doc.processing_seconds = round(result.seconds, 3)
    doc.lease_owner = doc.lease_until = None
    doc.next_attempt_at = None


def document_input(doc: models.Document) -> DocumentInput:
    """What the pipeline needs of a registered document's row."""
    if not doc.original_key:
        raise ProcessingError(f"document {doc.id} has no stored original")
    return DocumentInput(
        id=doc.id,
        source_name=doc.source_name,
        media_type=doc.media_type,
        original_key=doc.original_key,
        sha256=doc.sha256,
        size_bytes=doc.size_bytes,
        received_at=doc.received_at,
        scan_line={"ID": doc.scan_line_id, "Name": doc.scan_line.name if doc.scan_line else None},
        batch={"ID": doc.batch.id, "Name": doc.batch.name} if doc.batch else None,
    )
