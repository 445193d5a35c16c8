"""Publishing registered documents: the intake's step 3, and the backlog of a broker outage.

A document is committed ``received`` before its message is published; it becomes
``queued`` once the broker took the message. While the broker is away the intake goes on
registering (documents stay ``received``); when the broker is back the watcher publishes
its scan line's waiting documents itself (:func:`publish_waiting`), so they reach the
workers at once and not only when the sweeper finds them ``requeue_after_seconds`` later.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from kombu import Connection
from sqlalchemy import select

from mailroom.core.errors import BrokerUnavailable
from mailroom.core.states import DocumentState as S
from mailroom.infra.db.models import Document
from mailroom.infra.queue import DocumentMessage
from mailroom.lifecycle import IllegalTransition, transition
from mailroom.runtime.context import AppContext

log = logging.getLogger(__name__)

#: How many waiting documents :func:`publish_waiting` loads at a time.
PUBLISH_BATCH = 200


def publish_document(ctx: AppContext, doc: Document, actor: str) -> bool:
    """Publish and mark ``queued``; a broker outage leaves the document ``received``.

    Returns False if the broker was unavailable; the watcher publishes the document once
    the broker is back (:func:`publish_waiting`), or else the sweeper does.
    """
    try:
        _send(ctx, doc, actor)
    except BrokerUnavailable as exc:
        log.warning("document %s stays received until the broker is back: %s", doc.id, exc)
        return False
    return True


def publish_waiting(ctx: AppContext, line_id: str) -> int:
    """Publish the scan line's documents still ``received``, oldest first; return how many.

    They were registered while the broker was away. One connection carries them all.
    Raises :class:`BrokerUnavailable` if the broker fails again: the rest stay
    ``received`` for the next try.
    """
    actor = f"intake:{line_id}"
    published: set[str] = set()
    with ctx.queue.connect() as conn:
        # Each one published leaves ``received`` (or a worker took it first), so the next
        # batch holds new documents; ``published`` only guards against a row that lingers.
        while batch := [d for d in _waiting(ctx, line_id) if d.id not in published]:
            for doc in batch:
                _send(ctx, doc, actor, conn)
                published.add(doc.id)
    return len(published)


def _waiting(ctx: AppContext, line_id: str) -> list[Document]:
    """The line's oldest documents that are registered but not yet published."""
    with ctx.db.session() as session:
        query = (
            select(Document)
            .where(Document.scan_line_id == line_id, Document.state == S.RECEIVED)
            .order_by(Document.received_at)
            .limit(PUBLISH_BATCH)
        )
        return list(session.scalars(query))


def _send(ctx: AppContext, doc: Document, actor: str, conn: Connection | None = None) -> None:
    """Publish the document's message, then mark it ``queued``.

    The update is conditional: a fast worker may already have claimed the document after
    the message went out, and its state must not be overwritten.
    """
    ctx.queue.publish(DocumentMessage(doc.id), conn)
    with ctx.db.session() as session, suppress(IllegalTransition):
        session.add(doc)  # attached again, the caller's copy follows the transition
        # Raises if a worker claimed the document already: its state must stand.
        transition(session, doc.id, S.QUEUED, actor, expect=(S.RECEIVED,))
