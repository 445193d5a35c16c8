"""Claim a document, run the pipeline, commit the result — or record why not.

The queue consumer and the synchronous ``mailroom process`` command both go through
:class:`DocumentProcessor`, so they behave the same. The message is acknowledged by the
caller only after :meth:`DocumentProcessor.handle` returns, i.e. after the object-store
writes and the database commit.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import case, delete, or_, update
from sqlalchemy.orm import Session

from mailroom.core.backoff import Backoff
from mailroom.core.domain import DocumentInput
from mailroom.core.errors import (
    BadInputError,
    BrokerUnavailable,
    DatabaseUnavailable,
    MailroomError,
    StorageUnavailable,
    TransientError,
)
from mailroom.core.states import DocumentState as S
from mailroom.infra.db import models
from mailroom.infra.db.models import utcnow
from mailroom.lifecycle import IllegalTransition, transition
from mailroom.runtime import leases
from mailroom.runtime.context import AppContext
from mailroom.runtime.pipeline import PipelineResult, run_pipeline
from mailroom.runtime.rejections import note_rejection
from mailroom.runtime.rows import document_input, write_result

log = logging.getLogger(__name__)

CLAIMABLE = (S.RECEIVED, S.QUEUED, S.RETRY_WAIT)
FINISHED = (S.ROUTED, S.REVIEW, S.ACCEPTED, S.FAILED, S.QUARANTINED, S.DUPLICATE)
#: A service is away, the document itself is fine: waiting costs it no attempt.
OUTAGES = (StorageUnavailable, DatabaseUnavailable, BrokerUnavailable)
#: How often a finished document's outcome is offered again to a database that was away.
RECORD_RETRY_SECONDS = 2.0


class Outcome(enum.Enum):
    DONE = "done"  # result committed: ack
    SKIPPED = "skipped"  # nothing to do (finished already, or another worker holds it): ack
    RETRY = "retry"  # transient failure recorded, the sweeper republishes when due: ack
    DEAD = "dead"  # permanent failure recorded: dead-letter


@dataclass(frozen=True)
class Report:
    document_id: str
    outcome: Outcome
    state: str | None = None
    reason: str | None = None
    result: PipelineResult | None = None


class DocumentProcessor:
    """Processes documents by id on behalf of one worker (``owner``)."""

    def __init__(self, ctx: AppContext, owner: str) -> None:
        self.ctx = ctx
        self.owner = owner
        self._last_beat = 0.0
        # Consecutive outages this worker met: the wait before a document's next try.
        self._outages = Backoff(ctx.settings.service_backoff)
        # Claimed documents whose outcome the database did not take (see handle).
        self._unrecorded: set[str] = set()

    # -- public -------------------------------------------------------------------------

    def handle(self, document_id: str, *, redelivered: bool = False) -> Report:
        """Process one document. Database errors while committing propagate (no ack).

        ``redelivered`` (RabbitMQ's flag: the previous consumer went away without an ack)
        takes over nothing: the previous consumer may only have lost its connection and
        still be working, renewing its lease. A lease is taken over only once it ran out
        (the sweeper then republishes the document), or by its own owner.
        """
        self._give_back_unrecorded()
        claimed = self._claim(document_id, redelivered=redelivered)
        if isinstance(claimed, Report):
            return claimed
        try:
            return self._run(claimed)
        except DatabaseUnavailable:
            # Not even the outcome could be recorded: the worker requeues the message. The
            # claim's attempt is committed already; it is given back once the database
            # answers again, so an outage never uses up the document's attempts.
            self._unrecorded.add(document_id)
            raise

    # -- steps ----------------------------------------------------------------------------

    def _run(self, claimed: DocumentInput) -> Report:
        """Run the pipeline on a claimed document and record the outcome."""
        document_id = claimed.id
        outcome: Callable[[], Report]
        try:
            result = run_pipeline(claimed, self.ctx, heartbeat=lambda: self._heartbeat(document_id))
        except BadInputError as exc:
            outcome = partial(self._fail, document_id, S.QUARANTINED, exc)
        except OUTAGES as exc:
            outcome = partial(self._wait_out, document_id, exc)
        except TransientError as exc:  # OcrTimeout: this document is too hard, it counts
            outcome = partial(self._retry, document_id, exc)
        except MailroomError as exc:
            outcome = partial(self._fail, document_id, S.FAILED, exc)
        except Exception as exc:  # a bug or an unexpected library error: retry, then give up
            log.exception("document %s: unexpected error", document_id)
            outcome = partial(self._retry, document_id, exc)
        else:
            self._outages.succeeded()
            outcome = partial(self._commit, result)
        return self._recorded(document_id, outcome)

    def _recorded(self, document_id: str, record: Callable[[], Report]) -> Report:
        """Record an outcome, waiting out a database outage for up to ``lease_seconds``.

        The work is done; the database only has to take it. Tried again every couple of
        seconds, it is recorded within seconds of the database's return, before the lease
        (not renewed meanwhile) runs out and the sweeper hands the document to another
        worker, which would cost it an attempt. A longer outage raises, and the message is
        requeued (see :meth:`handle`).
        """
        deadline = time.monotonic() + self.ctx.settings.lease_seconds
        while True:
            try:
                return record()
            except DatabaseUnavailable as exc:
                if time.monotonic() + RECORD_RETRY_SECONDS > deadline:
                    raise
                log.warning("document %s: the database is away; recording again in %.0f s (%s)",
                            document_id, RECORD_RETRY_SECONDS, exc)  # fmt: skip
                time.sleep(RECORD_RETRY_SECONDS)

    def _claim(self, document_id: str, *, redelivered: bool = False) -> DocumentInput | Report:
        with self.ctx.db.session() as session:
            claimed = self._claim_in(session, document_id, redelivered=redelivered)
        return self._noted(claimed) if isinstance(claimed, Report) else claimed

    def _claim_in(
        self, session: Session, document_id: str, *, redelivered: bool
    ) -> DocumentInput | Report:
        doc = session.get(models.Document, document_id)
        if doc is None:
            return Report(document_id, Outcome.DEAD, reason="unknown document")
        if doc.state in FINISHED:
            return Report(document_id, Outcome.SKIPPED, doc.state, "already finished")
        if doc.attempts >= self.ctx.settings.max_attempts:
            reason = f"gave up after {doc.attempts} attempts (the worker stopped each time)"
            return self._give_up(session, doc, reason)
        if not self._take(session, doc):
            return self._held(doc, redelivered=redelivered)
        session.flush()
        session.refresh(doc)
        return document_input(doc)

    def _take(self, session: Session, doc: models.Document) -> bool:
        """The claim: one conditional transition to ``processing`` (atomic on both databases).

        A document in ``processing`` is taken only if its lease ran out or is this worker's.
        """
        D = models.Document
        now = utcnow()
        lease_free = or_(
            D.state != S.PROCESSING,
            D.lease_until.is_(None),
            D.lease_until < now,
            D.lease_owner == self.owner,
        )
        lease = {
            "attempts": D.attempts + 1,
            "lease_owner": self.owner,
            "lease_until": now + timedelta(seconds=self.ctx.settings.lease_seconds),
            "updated_at": now,
        }
        try:
            previous = transition(
                session,
                doc.id,
                S.PROCESSING,
                self.owner,
                expect=(*CLAIMABLE, S.PROCESSING),
                where=[lease_free],
                values=lease,
                attempt=doc.attempts + 1,
            )
        except IllegalTransition:
            return False  # finished meanwhile
        return previous is not None

    def _held(self, doc: models.Document, *, redelivered: bool) -> Report:
        """Another worker holds the document's lease: leave the document to it."""
        if redelivered:
            log.info("document %s: redelivered, but %s holds its lease until %s; the sweeper "
                     "republishes it if that lease runs out", doc.id, doc.lease_owner,
                     doc.lease_until)  # fmt: skip
        return Report(doc.id, Outcome.SKIPPED, doc.state, "held by another worker")

    def _heartbeat(self, document_id: str) -> None:
        """Renew the lease between pages (every third of the lease at most).

        A worker also renews it from a thread of its own (one page may take longer than the
        lease); this keeps ``mailroom process`` and other direct callers covered.
        """
        if time.monotonic() - self._last_beat < self.ctx.settings.lease_seconds / 3:
            return
        self._last_beat = time.monotonic()
        leases.renew(self.ctx, self.owner, document_id)

    def _commit(self, result: PipelineResult) -> Report:
        routing = result.routing
        state = S.ROUTED if routing.decision == "auto" else S.REVIEW
        with self.ctx.db.session() as session:
            doc = session.get(models.Document, result.doc.id)
            if doc is None or doc.state in FINISHED:
                # Another worker finished it after our lease ran out; its result stands.
                return Report(
                    result.doc.id,
                    Outcome.SKIPPED,
                    doc.state if doc else None,
                    "finished by another worker",
                )
            if not self._record(
                session,
                doc.id,
                state,
                None if state == S.ROUTED else "; ".join(routing.reasons[:3]) or None,
                department=routing.department_id,
                unit=routing.unit_code,
                confidence=round(routing.confidence, 4),
            ):
                return self._skipped(session, doc)
            write_result(session, doc, result)
            session.execute(
                delete(models.RoutingDecision).where(
                    models.RoutingDecision.document_id == doc.id,
                    models.RoutingDecision.is_label.is_(False),
                )
            )
            session.add(
                models.RoutingDecision(
                    document_id=doc.id, actor=self.owner, **result.record.decision
                )
            )
        return Report(result.doc.id, Outcome.DONE, state, result=result)

    def _fail(self, document_id: str, state: S, exc: MailroomError) -> Report:
        reason = str(exc)
        log.warning("document %s: %s (%s)", document_id, state, reason)
        with self.ctx.db.session() as session:
            doc = session.get(models.Document, document_id)
            if doc is not None and not self._record(
                session, document_id, state, reason, error=type(exc).__name__
            ):
                return self._skipped(session, doc)
        return self._noted(Report(document_id, Outcome.DEAD, state, reason))

    def _retry(self, document_id: str, exc: Exception) -> Report:
        reason = f"{type(exc).__name__}: {exc}"
        with self.ctx.db.session() as session:
            report = self._retry_in(session, document_id, reason)
        if report.outcome is Outcome.RETRY:
            log.warning("document %s: will retry (%s)", document_id, reason)
        return self._noted(report)

    def _retry_in(self, session: Session, document_id: str, reason: str) -> Report:
        doc = session.get(models.Document, document_id)
        if doc is None:
            return Report(document_id, Outcome.DEAD, reason="unknown document")
        if doc.attempts >= self.ctx.settings.max_attempts:
            return self._give_up(session, doc, f"gave up after {doc.attempts} attempts: {reason}")
        due = self.ctx.settings.backoff.next_attempt_at(utcnow(), doc.attempts)
        if not self._record(
            session,
            document_id,
            S.RETRY_WAIT,
            reason,
            values={"next_attempt_at": due},
            next_attempt_at=due.isoformat(),
        ):
            return self._skipped(session, doc)
        return Report(document_id, Outcome.RETRY, S.RETRY_WAIT, reason)

    def _wait_out(self, document_id: str, exc: TransientError) -> Report:
        """A service is away: try again when it may be back, without using up an attempt.

        The claim counted an attempt; it is given back in the same transaction. The wait
        follows ``settings.service_backoff`` over the outages this worker met in a row, so
        the document is tried again within ``service_backoff_max_seconds`` (plus one sweep)
        of the service's return, however long the outage lasted.
        """
        reason = f"{type(exc).__name__}: {exc}"
        due = utcnow() + timedelta(seconds=self._outages.failed())
        D = models.Document
        with self.ctx.db.session() as session:
            doc = session.get(D, document_id)
            if doc is None:
                return Report(document_id, Outcome.DEAD, reason="unknown document")
            given_back = case((D.attempts > 0, D.attempts - 1), else_=0)
            values = {"next_attempt_at": due, "attempts": given_back}
            if not self._record(
                session, document_id, S.RETRY_WAIT, reason, values=values,
                next_attempt_at=due.isoformat(), outage=True,
            ):  # fmt: skip
                return self._skipped(session, doc)
        log.warning("document %s: waiting for the service (%s)", document_id, reason)
        return Report(document_id, Outcome.RETRY, S.RETRY_WAIT, reason)

    def _give_back_unrecorded(self) -> None:
        """Give back the attempts of claims whose outcome the database could not take.

        Raises :class:`DatabaseUnavailable` while the database is still away (the caller's
        message is requeued; nothing was claimed).
        """
        if not self._unrecorded:
            return
        D = models.Document
        with self.ctx.db.session() as session:
            session.execute(
                update(D)
                .where(D.id.in_(self._unrecorded), D.attempts > 0, D.state.not_in(FINISHED))
                .values(attempts=D.attempts - 1)
                .execution_options(synchronize_session=False)
            )
        log.info("gave back the attempts of %d unrecorded documents", len(self._unrecorded))
        self._unrecorded.clear()

    def _give_up(self, session: Session, doc: models.Document, reason: str) -> Report:
        """Fail the document for good (``max_attempts`` used up); the caller, once its
        transaction is committed, passes the report through :meth:`_noted`."""
        if not self._record(session, doc.id, S.FAILED, reason):
            return self._skipped(session, doc)
        return Report(doc.id, Outcome.DEAD, S.FAILED, reason)

    def _record(
        self,
        session: Session,
        document_id: str,
        state: S,
        reason: str | None,
        *,
        values: Mapping[str, Any] | None = None,
        **detail: Any,
    ) -> bool:
        """Record this worker's outcome and end its lease.

        False if another worker finished the document first (its result stands) or
        changed it just now, or holds a live lease on it: a worker cut off from the
        database for longer than its lease finds the document taken over when it comes
        back, and leaves the result to the worker that holds it now (fencing).
        """
        D = models.Document
        not_taken_over = or_(
            D.state != S.PROCESSING,
            D.lease_owner.is_(None),
            D.lease_owner == self.owner,
            D.lease_until < utcnow(),
        )
        try:
            previous = transition(
                session,
                document_id,
                state,
                self.owner,
                reason=reason,
                where=[not_taken_over],
                values={"lease_owner": None, "lease_until": None, **(values or {})},
                **detail,
            )
        except IllegalTransition:
            return False
        return previous is not None

    def _noted(self, report: Report) -> Report:
        """Write the reason file for a document this worker failed or quarantined for good.

        Called only after the transaction that recorded the state is committed:
        :func:`note_rejection` reads the state in a session of its own.
        """
        if report.outcome is Outcome.DEAD and report.state in (S.FAILED, S.QUARANTINED):
            note_rejection(self.ctx, report.document_id)  # beside the file in processed/
        return report

    def _skipped(self, session: Session, doc: models.Document) -> Report:
        session.refresh(doc)
        return Report(doc.id, Outcome.SKIPPED, doc.state, "finished by another worker")
