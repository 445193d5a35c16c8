"""Operator statistics for the Leitstand and ``mailroom status``: per scan line and over time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from mailroom.core.states import DocumentState
from mailroom.infra.db.models import Document, ScanLine

WAITING_STATES = (DocumentState.RECEIVED, DocumentState.QUEUED, DocumentState.RETRY_WAIT)
#: Failed for the Leitstand: dead-lettered and quarantined documents.
FAILED_STATES = (DocumentState.FAILED, DocumentState.QUARANTINED)


@dataclass(frozen=True)
class ScanLineStats:
    """The Leitstand row of one scan line (Scanstraße)."""

    scan_line_id: str
    name: str
    waiting: int
    in_progress: int
    done_today: int
    failed: int
    #: Age of the oldest waiting document; ``None`` when nothing waits.
    oldest_waiting: timedelta | None

    @property
    def oldest_waiting_seconds(self) -> float | None:
        return self.oldest_waiting.total_seconds() if self.oldest_waiting is not None else None


@dataclass(frozen=True)
class ThroughputBucket:
    """Pages finished in one time bucket."""

    start: datetime
    pages: int
    pages_per_minute: float


def start_of_today(now: datetime) -> datetime:
    """Local midnight of ``now``'s day (the scan centre's working day), in UTC."""
    local = now.astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def scan_line_overview(session: Session, *, now: datetime | None = None) -> list[ScanLineStats]:
    """Per scan line: waiting, in progress, done today, failed, age of the oldest waiting."""
    now = now or datetime.now(UTC)
    today = start_of_today(now)
    waiting = Document.state.in_([s.value for s in WAITING_STATES])
    rows = session.execute(
        select(
            Document.scan_line_id,
            _count(waiting),
            _count(Document.state == DocumentState.PROCESSING.value),
            _count(Document.processed_at >= today),
            _count(Document.state.in_([s.value for s in FAILED_STATES])),
            func.min(case((waiting, Document.received_at), else_=None)),
        ).group_by(Document.scan_line_id)
    ).all()
    counts = {row[0]: row[1:] for row in rows}
    names = {line.id: line.name for line in session.scalars(select(ScanLine).order_by(ScanLine.id))}
    result = []
    for line_id in sorted(set(names) | set(counts)):
        w, p, d, f, oldest = counts.get(line_id, (0, 0, 0, 0, None))
        if isinstance(oldest, str):  # SQLite returns MIN() of a datetime as text
            oldest = datetime.fromisoformat(oldest)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        result.append(
            ScanLineStats(
                scan_line_id=line_id,
                name=names.get(line_id, line_id),
                waiting=int(w or 0),
                in_progress=int(p or 0),
                done_today=int(d or 0),
                failed=int(f or 0),
                oldest_waiting=max(now - oldest, timedelta(0)) if oldest is not None else None,
            )
        )
    return result


def throughput(
    session: Session, *, hours: int = 6, bucket_minutes: int = 10, now: datetime | None = None
) -> list[ThroughputBucket]:
    """Pages per minute over the last ``hours``, in buckets of ``bucket_minutes`` (oldest first)."""
    now = now or datetime.now(UTC)
    width = timedelta(minutes=bucket_minutes)
    count = max(1, int(timedelta(hours=hours) / width))
    # Align bucket edges to whole multiples of the bucket width so the chart does not jitter.
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    end = epoch + ((now - epoch) // width + 1) * width
    start = end - count * width
    pages = [0] * count
    rows = session.execute(
        select(Document.processed_at, Document.page_count).where(
            Document.processed_at >= start, Document.processed_at < end
        )
    )
    for processed_at, page_count in rows:
        if processed_at is None:
            continue
        if processed_at.tzinfo is None:
            processed_at = processed_at.replace(tzinfo=UTC)
        index = int((processed_at - start) // width)
        if 0 <= index < count:
            pages[index] += int(page_count or 0)
    return [ThroughputBucket(start + i * width, n, n / bucket_minutes) for i, n in enumerate(pages)]


def failed_documents(session: Session, *, limit: int = 100) -> list[Document]:
    """Dead-lettered and quarantined documents, newest first, for the Leitstand."""
    return list(
        session.scalars(
            select(Document)
            .where(Document.state.in_([s.value for s in FAILED_STATES]))
            .order_by(Document.updated_at.desc())
            .limit(limit)
        )
    )
