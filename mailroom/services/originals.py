"""Requests for the paper original (Anforderung des Papieroriginals).

The scan centre (Scanstelle) keeps the paper of every scanned letter for a while. A clerk
who needs it (a signature to inspect, a document to hand back) asks for it on the document
page. In the Leitstand the operators see the open requests per scan line and batch, fetch
the paper, and mark each request as *bereitgestellt* (sent to the requesting department)
or *nicht mehr vorhanden* (already destroyed, with a note). The clerk sees the outcome on
the document page. Each step is written to the audit trail.

Who sees which request is decided in :mod:`mailroom.services.access`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session, contains_eager, joinedload

from mailroom.core.errors import BadInputError, Conflict, NotFound, PermissionDenied
from mailroom.infra.db.audit import audit
from mailroom.infra.db.models import (
    Document,
    OriginalRequest,
    OriginalRequestStatus,
    User,
    utcnow,
)
from mailroom.services import access

REASON_MAX = 2000
NOTE_MAX = 2000

#: German labels for pages and messages.
STATUS_LABELS = {
    OriginalRequestStatus.OPEN.value: "Angefordert",
    OriginalRequestStatus.PROVIDED.value: "Bereitgestellt",
    OriginalRequestStatus.DESTROYED.value: "Nicht mehr vorhanden",
}


def request(session: Session, user: User, doc: Document, reason: str = "") -> OriginalRequest:
    """Papieroriginal anfordern: a clerk of the document's department (or an admin) asks the
    scan centre for the paper. One open request per document at a time."""
    if not access.can_decide(user, doc):
        raise PermissionDenied("only a clerk of the document's department or an admin may do this")
    pending = session.scalar(
        select(OriginalRequest).where(
            OriginalRequest.document_id == doc.id,
            OriginalRequest.status == OriginalRequestStatus.OPEN.value,
        )
    )
    if pending is not None:
        by = f" (Amt {pending.department_id})" if pending.department_id else ""
        raise Conflict(
            f"Das Papieroriginal ist bereits angefordert{by}; "
            "der Stand steht auf der Dokumentseite."
        )
    row = OriginalRequest(
        document_id=doc.id,
        requested_by=user.username,
        requested_at=utcnow(),
        department_id=doc.department_id,
        reason=reason.strip()[:REASON_MAX],
        status=OriginalRequestStatus.OPEN.value,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        user.username,
        "request_original",
        document=doc,
        request_id=row.id,
        department=row.department_id,
        reason=row.reason,
    )
    return row


def list_requests(
    session: Session,
    user: User,
    *,
    statuses: Iterable[str] | None = None,
    scan_line_id: str | None = None,
    document_id: str | None = None,
    limit: int = 500,
) -> list[OriginalRequest]:
    """The requests ``user`` may see, by scan line, batch and age (the scan centre's order:
    one trip to the shelf per batch). Document, batch, scan line and department are loaded."""
    query = (
        select(OriginalRequest)
        .join(OriginalRequest.document)
        .where(access.original_request_filter(user))
        .options(
            contains_eager(OriginalRequest.document).joinedload(Document.batch),
            contains_eager(OriginalRequest.document).joinedload(Document.scan_line),
            joinedload(OriginalRequest.department),
        )
    )
    wanted = [s for s in statuses or () if s]
    if wanted:
        unknown = sorted(set(wanted) - set(STATUS_LABELS))
        if unknown:
            valid = ", ".join(STATUS_LABELS)
            raise BadInputError(f"unknown status {', '.join(unknown)}: use one of {valid}")
        query = query.where(OriginalRequest.status.in_(wanted))
    if scan_line_id:
        query = query.where(Document.scan_line_id == scan_line_id)
    if document_id:
        query = query.where(OriginalRequest.document_id == document_id)
    query = query.order_by(
        Document.scan_line_id,
        func.coalesce(Document.batch_id, 0),
        OriginalRequest.requested_at,
        OriginalRequest.id,
    ).limit(max(1, min(limit, 1000)))
    return list(session.scalars(query).unique())


def display_names(session: Session, rows: Iterable[OriginalRequest]) -> dict[str, str]:
    """Display names of the requesting users (user name -> name), for the scan centre."""
    names = {r.requested_by for r in rows}
    if not names:
        return {}
    found = session.execute(
        select(User.username, User.display_name).where(User.username.in_(names))
    ).all()
    return {username: display or username for username, display in found}


def mark_provided(session: Session, user: User, request_id: int, note: str = "") -> OriginalRequest:
    """Bereitgestellt: the scan centre sent the paper to the requesting department."""
    return _close(session, user, request_id, OriginalRequestStatus.PROVIDED, note)


def mark_destroyed(session: Session, user: User, request_id: int, note: str) -> OriginalRequest:
    """Nicht mehr vorhanden: the paper was already destroyed; the note says when or why."""
    _require_scan_centre(user)
    if not note.strip():
        raise BadInputError(
            "Bitte vermerken, warum das Original nicht mehr vorhanden ist "
            "(z. B. vernichtet nach Ablauf der Aufbewahrungsfrist am ...)."
        )
    return _close(session, user, request_id, OriginalRequestStatus.DESTROYED, note)


def _require_scan_centre(user: User) -> None:
    if not access.can_handle_original_requests(user):
        raise PermissionDenied("only the scan centre (operators) or an admin may do this")


def _close(
    session: Session,
    user: User,
    request_id: int,
    status: OriginalRequestStatus,
    note: str,
) -> OriginalRequest:
    _require_scan_centre(user)
    row = session.get(OriginalRequest, request_id)
    if row is None:
        raise NotFound(f"no request for a paper original with id {request_id}")
    text = note.strip()[:NOTE_MAX] or None
    # Only an open request changes, so two operators cannot both close it.
    statement = (
        update(OriginalRequest)
        .where(
            OriginalRequest.id == request_id,
            OriginalRequest.status == OriginalRequestStatus.OPEN.value,
        )
        .values(status=status.value, handled_by=user.username, handled_at=utcnow(), note=text)
        .execution_options(synchronize_session=False)
    )
    changed = cast(CursorResult[Any], session.execute(statement))
    session.refresh(row)
    if changed.rowcount == 0:
        raise Conflict(
            f"Diese Anforderung ist bereits erledigt ({STATUS_LABELS.get(row.status, row.status)}"
            f" durch {row.handled_by or '?'})."
        )
    audit(
        session,
        user.username,
        "original_provided" if status is OriginalRequestStatus.PROVIDED else "original_destroyed",
        document_id=row.document_id,
        request_id=row.id,
        department=row.department_id,
        requested_by=row.requested_by,
        note=text,
    )
    return row
