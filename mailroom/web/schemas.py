"""Input and output schemas of the JSON API, kept apart from the table models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mailroom.infra.db.models import Document, ModelVersion, OriginalRequest, User


class TokenIn(BaseModel):
    username: str = Field(min_length=1, max_length=120)
    password: str = Field(min_length=1, max_length=1000)


class PasswordChangeIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=1, max_length=1000)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class SessionOut(BaseModel):
    username: str
    role: str
    departments: list[str]
    csrf_token: str


class AlternativeOut(BaseModel):
    unit_code: str | None = None
    department_id: str | None = None
    probability: float | None = None


class HandRegionOut(BaseModel):
    """A handwritten region of a page: ``text``, ``note`` or ``signature``, box x, y, w, h."""

    kind: str
    box: list[int]


class PageOut(BaseModel):
    number: int
    width: int
    height: int
    ocr_confidence: float | None
    low_confidence_regions: list[list[int]]
    image_url: str | None
    handwritten: str | None = None
    handwriting: list[HandRegionOut] = []


class DocumentSummary(BaseModel):
    """One row of ``GET /api/documents``."""

    id: str
    state: str
    scan_line_id: str
    received_at: datetime
    processed_at: datetime | None
    page_count: int | None
    subject: str | None
    sender: str | None
    letter_date: date | None
    department_id: str | None
    unit_code: str | None
    aktenzeichen: str | None
    confidence: float | None
    decision: str | None
    #: Handschrift: ``letter`` (written by hand), ``notes`` (handwritten notes) or None.
    handwritten: str | None = None

    @classmethod
    def of(cls, doc: Document) -> DocumentSummary:
        return cls(
            id=doc.id,
            state=doc.state,
            scan_line_id=doc.scan_line_id,
            received_at=doc.received_at,
            processed_at=doc.processed_at,
            page_count=doc.page_count,
            subject=doc.subject,
            sender=doc.sender,
            letter_date=doc.letter_date,
            department_id=doc.department_id,
            unit_code=doc.unit_code,
            aktenzeichen=doc.case.aktenzeichen if doc.case is not None else None,
            confidence=doc.confidence,
            decision=doc.decision,
            handwritten=doc.handwritten,
        )


class DocumentDetail(DocumentSummary):
    """``GET /api/documents/{id}``: metadata, routing explanation and links to the files."""

    source_name: str
    media_type: str
    sha256: str
    state_reason: str | None
    recipient: str | None
    extraction: dict[str, Any] | None
    classifier_version: str | None
    alternatives: list[AlternativeOut]
    reasons: list[str]
    pages: list[PageOut]
    links: dict[str, str]

    @classmethod
    def detail(cls, doc: Document) -> DocumentDetail:
        base = f"/api/documents/{doc.id}"
        links = {"self": base, "original": base + "/original", "text": base + "/text"}
        if (doc.objects or {}).get("pdf"):
            links["pdf"] = base + "/pdf"
        return cls(
            **DocumentSummary.of(doc).model_dump(),
            source_name=doc.source_name,
            media_type=doc.media_type,
            sha256=doc.sha256,
            state_reason=doc.state_reason,
            recipient=doc.recipient,
            extraction=doc.extraction,
            classifier_version=doc.classifier_version,
            alternatives=[
                AlternativeOut.model_validate(a)
                for a in doc.alternatives or []
                if isinstance(a, dict)
            ],
            reasons=[str(r) for r in doc.reasons or []],
            pages=[
                PageOut(
                    number=p.number,
                    width=p.width,
                    height=p.height,
                    ocr_confidence=p.ocr_confidence,
                    low_confidence_regions=[
                        list(map(int, b)) for b in p.low_confidence_regions or []
                    ],
                    image_url=f"{base}/pages/{p.number}" if p.image_key else None,
                    handwritten=p.handwritten,
                    handwriting=[
                        HandRegionOut.model_validate(r)
                        for r in p.handwriting or []
                        if isinstance(r, dict)
                    ],
                )
                for p in doc.pages
            ],
            links=links,
        )


class DocumentList(BaseModel):
    total: int
    items: list[DocumentSummary]


class ReassignIn(BaseModel):
    unit_code: str | None = Field(default=None, max_length=64)
    department_id: str | None = Field(default=None, max_length=32)


class AttachCaseIn(BaseModel):
    aktenzeichen: str = Field(min_length=1, max_length=120)


class OpenCaseIn(BaseModel):
    aktenzeichen: str = Field(min_length=1, max_length=120)
    unit_code: str = Field(min_length=1, max_length=64)
    subject: str = Field(default="", max_length=500)


class ReasonIn(BaseModel):
    reason: str = Field(default="", max_length=2000)


class ActionResult(BaseModel):
    document_id: str
    state: str
    department_id: str | None
    unit_code: str | None
    case_id: int | None


class ScanLineOut(BaseModel):
    scan_line_id: str
    name: str
    waiting: int
    in_progress: int
    done_today: int
    failed: int
    oldest_waiting_seconds: float | None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    display_name: str
    role: str
    active: bool
    departments: list[str]

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            active=user.active,
            departments=[d.id for d in user.departments],
        )


class ModelVersionOut(BaseModel):
    version: str
    status: str
    created_at: datetime
    training_size: int
    metrics: dict[str, Any] | None
    promoted_at: datetime | None
    has_plot: bool

    @classmethod
    def of(cls, row: ModelVersion) -> ModelVersionOut:
        return cls(
            version=row.version,
            status=row.status,
            created_at=row.created_at,
            training_size=row.training_size,
            metrics=row.metrics,
            promoted_at=row.promoted_at,
            has_plot=bool(row.plot_key),
        )


class JobOut(BaseModel):
    id: str
    kind: str
    status: str
    detail: str | None


class NoteIn(BaseModel):
    """The scan centre's note when it closes a request for a paper original."""

    note: str = Field(default="", max_length=2000)


class OriginalRequestOut(BaseModel):
    """A request for the paper original (``/api/original-requests``), with what the scan
    centre needs to find the paper: scan line, batch, file name, date of receipt."""

    id: int
    document_id: str
    source_name: str
    scan_line_id: str
    scan_line_name: str | None
    batch_id: int | None
    batch_name: str | None
    received_at: datetime
    page_count: int | None
    requested_by: str
    requested_by_name: str
    requested_at: datetime
    department_id: str | None
    department_name: str | None
    reason: str
    #: open | provided (bereitgestellt) | destroyed (nicht mehr vorhanden)
    status: str
    handled_by: str | None
    handled_at: datetime | None
    note: str | None

    @classmethod
    def of(cls, row: OriginalRequest, names: dict[str, str]) -> OriginalRequestOut:
        doc = row.document
        return cls(
            id=row.id,
            document_id=row.document_id,
            source_name=doc.source_name,
            scan_line_id=doc.scan_line_id,
            scan_line_name=doc.scan_line.name if doc.scan_line is not None else None,
            batch_id=doc.batch_id,
            batch_name=doc.batch.name if doc.batch is not None else None,
            received_at=doc.received_at,
            page_count=doc.page_count,
            requested_by=row.requested_by,
            requested_by_name=names.get(row.requested_by, row.requested_by),
            requested_at=row.requested_at,
            department_id=row.department_id,
            department_name=row.department.name if row.department is not None else None,
            reason=row.reason,
            status=row.status,
            handled_by=row.handled_by,
            handled_at=row.handled_at,
            note=row.note,
        )
