"""The audit trail (Protokollierung): one append-only table for everything that happened.

Two kinds of entries share the table:

- *state changes* (action ``"state"``) carry ``from_state`` and ``to_state``; they are
  written only by :mod:`mailroom.lifecycle` through :func:`audit_state`;
- every other event (a view, a clerk's action such as ``"accept"``, ``"intake.done"``, a
  login) is written by :func:`audit` and carries no states, so a document's state history
  is exactly its ``"state"`` entries.

Both append to the caller's session: the entry commits or rolls back with the change it
describes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mailroom.infra.db.models import AuditEvent, Document, utcnow

#: The action of a state-change entry.
STATE = "state"


def audit(
    session: Session,
    actor: str,
    action: str,
    *,
    document: Document | None = None,
    document_id: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Append one event that is not a state change (in the caller's transaction)."""
    if action == STATE:
        raise ValueError("state changes are written by mailroom.lifecycle, not by audit()")
    doc_id = document.id if document is not None else document_id
    return _append(session, actor, action, doc_id, None, None, detail)


def audit_state(
    session: Session,
    actor: str,
    document_id: str,
    from_state: str | None,
    to_state: str,
    **detail: Any,
) -> AuditEvent:
    """Append the entry of one state change; ``from_state`` None means a new document."""
    return _append(session, actor, STATE, document_id, from_state, to_state, detail)


def _append(
    session: Session,
    actor: str,
    action: str,
    document_id: str | None,
    from_state: str | None,
    to_state: str | None,
    detail: dict[str, Any],
) -> AuditEvent:
    event = AuditEvent(
        at=utcnow(),
        actor=actor,
        action=action,
        document_id=document_id,
        from_state=from_state,
        to_state=to_state,
        detail=detail or None,
    )
    session.add(event)
    return event
