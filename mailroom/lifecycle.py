"""The life of a document (Lebenslauf eines Eingangsdokuments) and its one way to change.

A scanned letter is registered by the intake (Posteingang) as ``received`` — or, if the
file is unreadable, ``quarantined`` (Quarantäne), or, if the same bytes came before,
``duplicate`` (Dublette). Once its message is on the queue it is ``queued``; a worker
claims it (``processing``, the worker holds a lease) and ends with ``routed`` (in a
department's Posteingang), ``review`` (Klärfall: a person decides), ``retry_wait`` (a
service was down; the sweeper republishes it when the backoff has passed), ``failed``
(permanent failure, dead-lettered) or ``quarantined`` (bad input). A clerk accepts a
routed document or a Klärfall (``accepted``), or sends it elsewhere (``routed`` again:
Umleitung, a case of another department). An operator (Leitstand) sends a failed or
quarantined document back to the queue, or quarantines one that should not be processed.

The pipeline is concurrent, so some transitions look odd but are real:

- ``received -> processing``: a worker may claim the document before the intake recorded
  that it published the message (the intake's ``received -> queued`` then loses);
- ``queued -> queued``: the sweeper republishes a message that was lost;
- ``processing -> processing``: a worker takes over a lease that ran out (never one that
  is still being renewed, even for a redelivered message);
- ``processing -> queued``: the sweeper puts back a document whose lease ran out;
- ``queued``/``retry_wait -> routed, review, retry_wait, failed, quarantined``: a worker
  whose lease ran out still records its outcome unless another worker finished first
  (the first result stands).

Every state change goes through :func:`transition` (or :func:`begin` for a new
document). The audit trail's guarantee, also under races between processes: every state
change has exactly one audit entry with action ``"state"`` and the exact previous and new
state, written in the same transaction as the change. Ordered by id, a document's
``"state"`` entries form a chain: the first has ``from_state`` None, each later one's
``from_state`` is the previous entry's ``to_state``. (Its ``queued`` may be missing: that
is the ``received -> processing`` case above, not a gap.) Other audit events (views,
``accept``, ``intake.done``) carry no states. It holds because each UPDATE is conditional
on the very state its entry names as ``from_state``: of two processes changing the same
state, one UPDATE finds the row changed and writes no entry.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import ClauseElement

from mailroom.core.errors import Conflict, NotFound
from mailroom.core.states import DocumentState
from mailroom.core.states import DocumentState as S
from mailroom.infra.db.audit import audit_state
from mailroom.infra.db.models import Document, new_id, utcnow

#: Outcomes a worker records at the end of processing.
_WORKER_OUTCOMES = frozenset({S.ROUTED, S.REVIEW, S.RETRY_WAIT, S.FAILED, S.QUARANTINED})
#: What may happen to a waiting document: (re)published, claimed, given up after
#: ``max_attempts``, or quarantined by an operator.
_WHILE_WAITING = frozenset({S.QUEUED, S.PROCESSING, S.FAILED, S.QUARANTINED})

#: The allowed transitions, from the current state (None: a new document) to the next.
TRANSITIONS: dict[DocumentState | None, frozenset[DocumentState]] = {
    None: frozenset({S.RECEIVED, S.QUARANTINED, S.DUPLICATE}),
    S.RECEIVED: _WHILE_WAITING,
    S.QUEUED: _WHILE_WAITING | _WORKER_OUTCOMES,  # the outcomes: a late worker (see above)
    S.PROCESSING: frozenset({S.PROCESSING, S.QUEUED}) | _WORKER_OUTCOMES,
    S.RETRY_WAIT: _WHILE_WAITING | _WORKER_OUTCOMES,  # the outcomes: a late worker (see above)
    S.ROUTED: frozenset({S.ACCEPTED, S.ROUTED}),
    S.REVIEW: frozenset({S.ACCEPTED, S.ROUTED}),
    S.ACCEPTED: frozenset(),
    S.FAILED: frozenset({S.QUEUED, S.QUARANTINED}),
    S.QUARANTINED: frozenset({S.QUEUED}),
    S.DUPLICATE: frozenset(),
}

#: How often a transition follows a state that keeps moving on under it (see transition).
_RACE_RETRIES = 3


class IllegalTransition(Conflict):
    """The document's current state does not allow the requested one."""


def begin(
    session: Session,
    doc: Document,
    state: DocumentState,
    actor: str,
    *,
    reason: str | None = None,
    **detail: Any,
) -> None:
    """Give a new (not yet flushed) document its first state and write the audit entry."""
    doc.id = doc.id or new_id()  # the audit entry needs it before the flush
    _check(doc.id, None, state, None)
    doc.state = state
    doc.state_reason = reason
    doc.updated_at = utcnow()
    audit_state(session, actor, doc.id, None, state, **_with_reason(reason, detail))


def transition(
    session: Session,
    document_id: str,
    to: DocumentState,
    actor: str,
    *,
    reason: str | None = None,
    expect: Collection[DocumentState] | None = None,
    where: Iterable[ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
    **detail: Any,
) -> DocumentState | None:
    """Change a document's state to ``to`` and write the audit entry; return the old state.

    Reads the current state; raises :class:`IllegalTransition` if the table (or
    ``expect``, the states this caller may start from) does not allow the change, and
    :class:`NotFound` for an unknown document. Then one conditional UPDATE sets ``state``,
    ``state_reason`` (= ``reason``), ``updated_at`` and ``values`` (which may override
    ``updated_at``) if the row is still in the state just read and matches ``where``.

    Returns None, writing nothing, if another process won the race: ``where`` no longer
    holds, or the state moved on to one the change is not allowed from. If it moved on to
    one it is allowed from (``received`` became ``queued`` under a worker's claim), the
    change is tried again from there, as one ``UPDATE ... WHERE state IN (...)`` would.
    A copy of the document loaded in ``session`` is brought up to date.
    """
    current = _current(session, document_id)
    _check(document_id, current, to, expect)
    for _ in range(_RACE_RETRIES):
        changes = {"state": to, "state_reason": reason, "updated_at": utcnow(), **(values or {})}
        if _update(session, document_id, current, where, changes):
            audit_state(session, actor, document_id, current, to, **_with_reason(reason, detail))
            _sync_loaded(session, document_id, changes)
            return current
        moved = _moved_on(session, document_id, current, to, expect)
        if moved is None:
            return None
        current = moved
    return None


def _update(
    session: Session,
    document_id: str,
    current: DocumentState,
    where: Iterable[ColumnElement[bool]],
    changes: Mapping[str, Any],
) -> bool:
    """The one conditional UPDATE; True if it changed the row."""
    result = session.execute(
        update(Document)
        .where(Document.id == document_id, Document.state == current, *where)
        .values(changes)
        .execution_options(synchronize_session=False)
    )
    return bool(cast("CursorResult[Any]", result).rowcount)


def _moved_on(
    session: Session,
    document_id: str,
    before: DocumentState,
    to: DocumentState,
    expect: Collection[DocumentState] | None,
) -> DocumentState | None:
    """The state the UPDATE missed, if the change is still allowed from it; else None."""
    state = _current(session, document_id)
    if state == before or not _allowed(state, to, expect):
        return None  # ``where`` does not hold, or the race decided against this change
    return state


def _current(session: Session, document_id: str) -> DocumentState:
    state = session.scalar(select(Document.state).where(Document.id == document_id))
    if state is None:
        raise NotFound(f"document {document_id} does not exist")
    return DocumentState(state)


def _allowed(
    current: DocumentState | None,
    to: DocumentState,
    expect: Collection[DocumentState] | None,
) -> bool:
    return to in TRANSITIONS[current] and (expect is None or current in expect)


def _check(
    document_id: str,
    current: DocumentState | None,
    to: DocumentState,
    expect: Collection[DocumentState] | None,
) -> None:
    if not _allowed(current, to, expect):
        raise IllegalTransition(
            f"document {document_id} is {current or 'new'}; it cannot become {to} now"
        )


def _with_reason(reason: str | None, detail: dict[str, Any]) -> dict[str, Any]:
    return {"reason": reason, **detail} if reason else detail


def _sync_loaded(session: Session, document_id: str, changes: Mapping[str, Any]) -> None:
    """Make the session's copy of the row match the UPDATE (it bypassed the ORM)."""
    doc = session.identity_map.get(identity_key(Document, document_id))
    if doc is None:
        return
    for key, value in changes.items():
        if isinstance(value, ClauseElement):
            session.expire(doc, [key])  # computed by the database: load on next access
        else:
            set_committed_value(doc, key, value)
