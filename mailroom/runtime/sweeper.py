"""The sweeper: republishes documents whose message was lost or whose worker died.

The database is the source of truth, the queue only a signal. A document can be stranded
when a publish fails after the intake commit, when a worker dies holding a document on a
transport that does not redeliver (the embedded filesystem transport), or when a
transient failure scheduled a retry. Every worker runs the sweeper now and then; a
conditional transition (:func:`mailroom.lifecycle.transition`) makes sure only one of them
republishes each document.

The sweeper also removes the spool files of killed processes (:func:`clean_spool`), every
:data:`SPOOL_CLEANUP_SECONDS`: the spool folder is per host (``<data dir>/spool``), and a
worker runs the sweeper on the host whose spool it writes to, wherever that is. The
watcher process cleans its host's spool folder too (:func:`clean_spool_until`).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from config.settings import Settings
from intake import spoolfiles
from mailroom.core.errors import MailroomError
from mailroom.core.states import DocumentState as S
from mailroom.infra.db import models
from mailroom.infra.db.models import utcnow
from mailroom.infra.queue import DocumentMessage
from mailroom.lifecycle import IllegalTransition, transition
from mailroom.runtime.context import AppContext

log = logging.getLogger(__name__)

BATCH = 200
#: How often a worker's sweeper, and the watcher process, clean their host's spool folder.
SPOOL_CLEANUP_SECONDS = 600.0


def clean_spool(settings: Settings) -> spoolfiles.Removed:
    """Remove the spool files of this host's ended processes (logged; never raises)."""
    return spoolfiles.remove_leftovers(settings.data_dir / "spool")


def clean_spool_until(
    settings: Settings, stop: threading.Event, interval: float = SPOOL_CLEANUP_SECONDS
) -> None:
    """Clean the spool folder now and then every ``interval`` seconds until ``stop``."""
    clean_spool(settings)
    while not stop.wait(interval):
        clean_spool(settings)


class Sweeper:
    """Republishes stranded documents; each worker runs one in a thread beside its consumer."""

    def __init__(self, ctx: AppContext, actor: str = "sweeper") -> None:
        self.ctx = ctx
        self.actor = actor
        self._spool_due = 0.0  # monotonic time of the next spool cleanup: the first sweep

    def run(self) -> int:
        """Republish every stranded document; return how many were republished.

        Cleans the spool folder first when that is due.
        """
        if (moment := time.monotonic()) >= self._spool_due:
            self._spool_due = moment + SPOOL_CLEANUP_SECONDS
            clean_spool(self.ctx.settings)
        now = utcnow()
        stale = now - timedelta(seconds=self.ctx.settings.requeue_after_seconds)
        D = models.Document
        conditions = [
            and_(D.state == S.RECEIVED, D.updated_at < stale),
            and_(D.state == S.RETRY_WAIT, D.next_attempt_at <= now),
            and_(D.state == S.PROCESSING, D.lease_until < now),
        ]
        if self.ctx.queue.depth() == 0:
            # Queued long ago, yet nothing is waiting: the message was lost.
            conditions.append(and_(D.state == S.QUEUED, D.updated_at < stale))
        with self.ctx.db.session() as session:
            rows = session.execute(
                select(D.id, D.state, D.updated_at, D.attempts).where(or_(*conditions)).limit(BATCH)
            ).all()
        republished = 0
        for doc_id, state, updated_at, attempts in rows:
            if not self._requeue(doc_id, S(state), updated_at):
                continue
            try:
                self.ctx.queue.publish(DocumentMessage(doc_id, attempt=attempts + 1))
            except MailroomError as exc:
                log.warning("sweeper could not publish %s: %s", doc_id, exc)
                break
            republished += 1
            log.info("republished document %s (was %s)", doc_id, state)
        return republished

    def _requeue(self, doc_id: str, state: S, updated_at: datetime) -> bool:
        """Mark the document ``queued`` unless it changed since it was found stranded."""
        with self.ctx.db.session() as session:
            try:
                won = transition(
                    session,
                    doc_id,
                    S.QUEUED,
                    self.actor,
                    reason=f"republished from {state}",
                    expect=(state,),
                    where=[models.Document.updated_at == updated_at],
                    values={"lease_owner": None, "lease_until": None},
                )
            except IllegalTransition:
                return False  # another process moved it on: it is not stranded any more
        return won is not None
