"""The audit trail's guarantee for a document's states, as tests check it."""

from __future__ import annotations

from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailroom.core.states import DocumentState
from mailroom.infra.db.models import AuditEvent
from mailroom.lifecycle import TRANSITIONS
from mailroom.runtime.context import AppContext


def state_changes(session: Session, document_id: str) -> list[tuple[str | None, str | None]]:
    """The document's ``"state"`` entries as (from_state, to_state), ordered by id."""
    entries = session.scalars(
        select(AuditEvent).where(AuditEvent.document_id == document_id).order_by(AuditEvent.id)
    ).all()
    for entry in entries:
        if entry.action != "state":
            assert (entry.from_state, entry.to_state) == (None, None), entry.action
    return [(e.from_state, e.to_state) for e in entries if e.action == "state"]


def assert_state_chain(session: Session, document_id: str) -> list[str]:
    """Assert the guarantee of :mod:`mailroom.lifecycle`; return the states in order.

    Only ``"state"`` entries carry states; ordered by id they form a chain that starts at
    a new document (from None), and every step is an allowed transition.
    """
    changes = state_changes(session, document_id)
    assert changes, f"document {document_id} has no state entries"
    assert changes[0][0] is None, changes
    for (_, before), (after, _) in pairwise(changes):
        assert after == before, f"the chain breaks at {after} after {before}: {changes}"
    for from_state, to_state in changes:
        assert to_state is not None, changes
        current = DocumentState(from_state) if from_state is not None else None
        assert DocumentState(to_state) in TRANSITIONS[current], (from_state, to_state)
    return [to for _, to in changes if to is not None]


def to_states(ctx: AppContext, document_id: str) -> list[str | None]:
    """The states a document went through, oldest first (its ``"state"`` entries)."""
    with ctx.db.session() as session:
        return [to for _, to in state_changes(session, document_id)]
