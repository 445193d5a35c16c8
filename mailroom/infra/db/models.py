"""SQLAlchemy table models. The same code runs on SQLite (embedded) and PostgreSQL.

Schema changes go through Alembic migrations in ``mailroom/infra/db/migrations``.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from mailroom.core.states import DocumentState


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Role(enum.StrEnum):
    OPERATOR = "operator"
    CLERK = "clerk"
    ADMIN = "admin"


class Department(Base):
    """Leistungseinheit / Amt, mirrored from the file plan."""

    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[list[Any]] = mapped_column(default=list)
    #: Only what an administrator set (Verwaltung -> Schwellenwerte); it wins over the file
    #: plan's value, which is never copied here (``classifiers.router.threshold_in_force``).
    admin_threshold: Mapped[float | None] = mapped_column(Float)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class FilePlanUnit(Base):
    """Aktenplaneinheit, mirrored from the file plan."""

    __tablename__ = "fileplan_units"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    retention_years: Mapped[int] = mapped_column(Integer)
    disposal: Mapped[str] = mapped_column(String(1))
    description: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    reference_patterns: Mapped[list[Any]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    department: Mapped[Department] = relationship()


class Case(Base):
    """Vorgang / Fallakte: an open matter identified by its Aktenzeichen."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    aktenzeichen: Mapped[str] = mapped_column(String(120), unique=True)
    #: Normalised form used for matching (see ``classifiers.references.normalize``).
    reference_key: Mapped[str] = mapped_column(String(120), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("fileplan_units.code"), index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    names: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(120), default="import")
    #: Set on every insert and update; with the number of open cases it is the watermark
    #: that tells each worker's case index to rebuild (``mailroom.services.cases``).
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    unit: Mapped[FilePlanUnit] = relationship()


class ScanLine(Base):
    """Scanstraße: one hot folder fed by one scanner."""

    __tablename__ = "scan_lines"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    hot_folder: Mapped[str] = mapped_column(Text)


class Batch(Base):
    """Stapel: what a scan line delivered in one go (one file or one folder)."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_line_id: Mapped[str] = mapped_column(ForeignKey("scan_lines.id"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Document(Base):
    """One incoming letter (Eingangsdokument) and everything the pipeline found."""

    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    scan_line_id: Mapped[str] = mapped_column(ForeignKey("scan_lines.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    source_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(100))
    original_key: Mapped[str | None] = mapped_column(String(500))
    duplicate_of: Mapped[str | None] = mapped_column(ForeignKey("documents.id"))

    state: Mapped[str] = mapped_column(String(20), index=True, default=DocumentState.RECEIVED)
    state_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column()
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    processed_at: Mapped[datetime | None] = mapped_column(index=True)
    processing_seconds: Mapped[float | None] = mapped_column(Float)

    page_count: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)
    ocr_engine: Mapped[str | None] = mapped_column(String(100))
    ocr_confidence: Mapped[float | None] = mapped_column(Float)
    subject: Mapped[str | None] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(Text)
    recipient: Mapped[str | None] = mapped_column(Text)
    letter_date: Mapped[date | None] = mapped_column(Date)
    extraction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    low_confidence_regions: Mapped[list[Any] | None] = mapped_column(JSON)
    handwritten: Mapped[str | None] = mapped_column(String(10))

    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), index=True)
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("fileplan_units.code"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    confidence: Mapped[float | None] = mapped_column(Float)
    decision: Mapped[str | None] = mapped_column(String(20))
    classifier_version: Mapped[str | None] = mapped_column(String(120))
    alternatives: Mapped[list[Any] | None] = mapped_column(JSON)
    reasons: Mapped[list[Any] | None] = mapped_column(JSON)
    objects: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    pages: Mapped[list[Page]] = relationship(
        back_populates="document", order_by="Page.number", cascade="all, delete-orphan"
    )
    department: Mapped[Department | None] = relationship()
    unit: Mapped[FilePlanUnit | None] = relationship()
    case: Mapped[Case | None] = relationship()
    scan_line: Mapped[ScanLine] = relationship()
    batch: Mapped[Batch | None] = relationship()

    __table_args__ = (Index("ix_documents_dept_state", "department_id", "state"),)


class Page(Base):
    """One page of a document with its OCR result."""

    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    dpi: Mapped[int | None] = mapped_column(Integer)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    skew_degrees: Mapped[float] = mapped_column(Float, default=0.0)
    blank: Mapped[bool] = mapped_column(Boolean, default=False)
    ocr_confidence: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text, default="")
    image_key: Mapped[str | None] = mapped_column(String(500))
    #: Boxes (x, y, w, h in page pixels) of words recognised with low confidence.
    low_confidence_regions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: The page's blocks in reading order (kind, box, lines; see ``workers.record``);
    #: None for pages processed before the layout was kept.
    layout: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: As on ``PageOcr``; ``handwriting`` holds the regions as {"kind", "box"}.
    handwritten: Mapped[str | None] = mapped_column(String(10))
    handwriting: Mapped[list[Any] | None] = mapped_column(JSON)
    orientation_check: Mapped[str | None] = mapped_column(String(10))
    second_pass: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    dictionary_share: Mapped[float | None] = mapped_column(Float)

    document: Mapped[Document] = relationship(back_populates="pages")

    __table_args__ = (UniqueConstraint("document_id", "number"),)


class RoutingDecision(Base):
    """Every routing of a document, by the machine or a person; corrections train the router."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: auto | review | accept | reassign | attach_case
    kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(120))
    department_id: Mapped[str | None] = mapped_column(String(32))
    unit_code: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    confidence: Mapped[float | None] = mapped_column(Float)
    classifier_version: Mapped[str | None] = mapped_column(String(120))
    alternatives: Mapped[list[Any] | None] = mapped_column(JSON)
    reasons: Mapped[list[Any] | None] = mapped_column(JSON)
    #: Set when a person confirmed or corrected it: usable as a training label.
    is_label: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class AuditEvent(Base):
    """The audit trail (Protokollierung): every state change, view and action."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60), index=True)
    document_id: Mapped[str | None] = mapped_column(String(32), index=True)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


user_departments = Table(
    "user_departments",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("departments.id"), primary_key=True),
)


class User(Base):
    """A person logging into the web application."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    departments: Mapped[list[Department]] = relationship(secondary=user_departments)


class ModelVersion(Base):
    """A trained router model; the file itself lives in the object store."""

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(120), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: candidate | active | retired
    status: Mapped[str] = mapped_column(String(20), default="candidate", index=True)
    object_key: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    format_version: Mapped[int] = mapped_column(Integer)
    sklearn_version: Mapped[str | None] = mapped_column(String(40))
    training_size: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    plot_key: Mapped[str | None] = mapped_column(String(500))
    notes: Mapped[str | None] = mapped_column(Text)
    promoted_at: Mapped[datetime | None] = mapped_column()


class OriginalRequestStatus(enum.StrEnum):
    """Where a request for the paper original stands (Anforderung des Papieroriginals)."""

    OPEN = "open"  # waiting for the scan centre
    PROVIDED = "provided"  # bereitgestellt: the paper was sent to the department
    DESTROYED = "destroyed"  # nicht mehr vorhanden: already destroyed after the keeping period


class OriginalRequest(Base):
    """A clerk's request for the paper original from the scan centre (Scanstelle).

    The scan centre keeps the paper for a while after scanning; it either sends it to the
    requesting department or notes that it no longer exists.
    """

    __tablename__ = "original_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(120))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The department that asked (the document's department at the time of the request):
    #: where the paper goes, and whose clerks see the request.
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    #: See :class:`OriginalRequestStatus`.
    status: Mapped[str] = mapped_column(String(20), default=OriginalRequestStatus.OPEN, index=True)
    handled_by: Mapped[str | None] = mapped_column(String(120))
    handled_at: Mapped[datetime | None] = mapped_column()
    #: The scan centre's note (how it was sent, or why it no longer exists).
    note: Mapped[str | None] = mapped_column(Text)

    document: Mapped[Document] = relationship()
    department: Mapped[Department | None] = relationship()


class LoginFailure(Base):
    """One failed login, kept for a short while to throttle guessing (see
    :mod:`mailroom.services.login_throttle`); the audit trail keeps the permanent record."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: The user name as typed, stripped and lower-cased (it need not exist).
    username: Mapped[str] = mapped_column(String(120), index=True)
    client: Mapped[str] = mapped_column(String(100), index=True)


class TrainingSample(Base):
    """A labelled text imported from a DMS (``mailroom train DIR --labels``)."""

    __tablename__ = "training_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    unit_code: Mapped[str] = mapped_column(String(64))
    case_ref: Mapped[str | None] = mapped_column(String(120))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlobLock(Base):
    """Small named leases for jobs that must run once at a time (retraining)."""

    __tablename__ = "job_locks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    until: Mapped[datetime] = mapped_column()
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
