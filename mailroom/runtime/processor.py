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
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, false, or_, true, update
from sqlalchemy.orm import Session

from mailroom.core.errors import BadInputError, MailroomError, TransientError
from mailroom.core.states import DocumentState as S
from mailroom.infra.db import models
from mailroom.infra.db.database import audit, set_state
from mailroom.infra.db.models import utcnow
from mailroom.runtime.context import AppContext
from mailroom.runtime.pipeline import DocumentInput, PipelineResult, run_pipeline

log = logging.getLogger(__name__)

CLAIMABLE = (S.RECEIVED, S.QUEUED, S.RETRY_WAIT)
FINISHED = (S.ROUTED, S.REVIEW, S.ACCEPTED, S.FAILED, S.QUARANTINED, S.DUPLICATE)


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

    # -- public -------------------------------------------------------------------------

    def handle(self, document_id: str, *, redelivered: bool = False) -> Report:
        """Process one document. Database errors while committing propagate (no ack).

        ``redelivered`` (RabbitMQ's flag: the previous consumer went away without an ack)
        lets this worker take over a lease that has not yet run out.
        """
        claimed = self._claim(document_id, takeover=redelivered)
        if isinstance(claimed, Report):
            return claimed
        try:
            result = run_pipeline(claimed, self.ctx, heartbeat=lambda: self._heartbeat(document_id))
        except BadInputError as exc:
            return self._fail(document_id, S.QUARANTINED, exc)
        except TransientError as exc:
            return self._retry(document_id, exc)
        except MailroomError as exc:
            return self._fail(document_id, S.FAILED, exc)
        except Exception as exc:  # a bug or an unexpected library error: retry, then give up
            log.exception("document %s: unexpected error", document_id)
            return self._retry(document_id, exc)
        return self._commit(result)

    # -- steps ----------------------------------------------------------------------------

    def _claim(self, document_id: str, *, takeover: bool = False) -> DocumentInput | Report:
        now = utcnow()
        settings = self.ctx.settings
        with self.ctx.db.session() as session:
            doc = session.get(models.Document, document_id)
            if doc is None:
                return Report(document_id, Outcome.DEAD, reason="unknown document")
            if doc.state in FINISHED:
                return Report(document_id, Outcome.SKIPPED, doc.state, "already finished")
            if doc.attempts >= settings.max_attempts:
                set_state(
                    session,
                    doc,
                    S.FAILED,
                    self.owner,
                    f"gave up after {doc.attempts} attempts (the worker stopped each time)",
                )
                doc.lease_owner = doc.lease_until = None
                return Report(document_id, Outcome.DEAD, S.FAILED, doc.state_reason)
            # One conditional UPDATE is the claim: atomic on SQLite and PostgreSQL alike.
            claimed = cast(
                "CursorResult[Any]",
                session.execute(
                    update(models.Document)
                    .where(
                        models.Document.id == document_id,
                        or_(
                            models.Document.state.in_(CLAIMABLE),
                            (models.Document.state == S.PROCESSING)
                            & or_(
                                models.Document.lease_until.is_(None),
                                models.Document.lease_until < now,
                                models.Document.lease_owner == self.owner,
                                true() if takeover else false(),
                            ),
                        ),
                    )
                    .values(
                        state=S.PROCESSING,
                        attempts=models.Document.attempts + 1,
                        lease_owner=self.owner,
                        lease_until=now + timedelta(seconds=settings.lease_seconds),
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
            if not claimed:
                return Report(document_id, Outcome.SKIPPED, doc.state, "held by another worker")
            audit(
                session,
                self.owner,
                "state",
                document_id=document_id,
                from_state=doc.state,
                to_state=S.PROCESSING,
                attempt=doc.attempts + 1,
            )
            session.flush()
            session.refresh(doc)
            return DocumentInput.from_row(doc)

    def _heartbeat(self, document_id: str) -> None:
        """Extend the lease while a long document is being recognised (at most every 30 s)."""
        if time.monotonic() - self._last_beat < 30:
            return
        self._last_beat = time.monotonic()
        with self.ctx.db.session() as session:
            session.execute(
                update(models.Document)
                .where(models.Document.id == document_id, models.Document.lease_owner == self.owner)
                .values(lease_until=utcnow() + timedelta(seconds=self.ctx.settings.lease_seconds))
            )

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
            _write_result(session, doc, result)
            session.execute(
                delete(models.RoutingDecision).where(
                    models.RoutingDecision.document_id == doc.id,
                    models.RoutingDecision.is_label.is_(False),
                )
            )
            session.add(
                models.RoutingDecision(
                    document_id=doc.id,
                    kind=routing.decision,
                    actor=self.owner,
                    department_id=routing.department_id,
                    unit_code=routing.unit_code,
                    case_id=routing.case_id,
                    confidence=routing.confidence,
                    classifier_version=routing.classifier_version,
                    alternatives=[asdict(a) for a in routing.alternatives],
                    reasons=routing.reasons,
                )
            )
            set_state(
                session,
                doc,
                state,
                self.owner,
                None if state == S.ROUTED else "; ".join(routing.reasons[:3]) or None,
                department=routing.department_id,
                unit=routing.unit_code,
                confidence=round(routing.confidence, 4),
            )
        return Report(result.doc.id, Outcome.DONE, state, result=result)

    def _fail(self, document_id: str, state: str, exc: MailroomError) -> Report:
        reason = str(exc)
        log.warning("document %s: %s (%s)", document_id, state, reason)
        with self.ctx.db.session() as session:
            doc = session.get(models.Document, document_id)
            if doc is not None:
                set_state(session, doc, state, self.owner, reason, error=type(exc).__name__)
                doc.lease_owner = doc.lease_until = None
        return Report(document_id, Outcome.DEAD, state, reason)

    def _retry(self, document_id: str, exc: Exception) -> Report:
        reason = f"{type(exc).__name__}: {exc}"
        with self.ctx.db.session() as session:
            doc = session.get(models.Document, document_id)
            if doc is None:
                return Report(document_id, Outcome.DEAD, reason="unknown document")
            if doc.attempts >= self.ctx.settings.max_attempts:
                set_state(
                    session,
                    doc,
                    S.FAILED,
                    self.owner,
                    f"gave up after {doc.attempts} attempts: {reason}",
                )
                doc.lease_owner = doc.lease_until = None
                return Report(document_id, Outcome.DEAD, S.FAILED, doc.state_reason)
            doc.next_attempt_at = self.ctx.settings.backoff.next_attempt_at(utcnow(), doc.attempts)
            set_state(
                session,
                doc,
                S.RETRY_WAIT,
                self.owner,
                reason,
                next_attempt_at=doc.next_attempt_at.isoformat(),
            )
            doc.lease_owner = doc.lease_until = None
        log.warning("document %s: will retry (%s)", document_id, reason)
        return Report(document_id, Outcome.RETRY, S.RETRY_WAIT, reason)


def _write_result(session: Session, doc: models.Document, result: PipelineResult) -> None:
    """Copy the pipeline's findings onto the document row and replace its pages."""
    routing, extraction = result.routing, result.extraction
    session.execute(delete(models.Page).where(models.Page.document_id == doc.id))
    session.expire(doc, ["pages"])
    for page, ocr in zip(result.recognized.pages, result.recognized.results, strict=True):
        height, width = page.image.shape[:2]
        session.add(
            models.Page(
                document_id=doc.id,
                number=page.number,
                width=width,
                height=height,
                dpi=page.dpi,
                rotation=page.rotation,
                skew_degrees=page.skew_degrees,
                blank=page.blank,
                ocr_confidence=ocr.confidence,
                text=ocr.text,
                image_key=result.objects["pages"][page.number - 1],
                low_confidence_regions=[
                    [b.left, b.top, b.width, b.height] for b in ocr.low_confidence_regions
                ],
            )
        )
    doc.page_count = len(result.recognized.pages)
    doc.text = result.recognized.text
    doc.ocr_engine = result.recognized.results[0].engine if result.recognized.results else None
    doc.ocr_confidence = result.recognized.mean_confidence
    doc.subject = extraction.subject
    doc.sender = extraction.sender
    doc.recipient = extraction.recipient
    doc.letter_date = extraction.letter_date
    doc.extraction = {
        "references": [asdict(r) for r in extraction.references],
        "addressed_departments": extraction.addressed_departments,
        "names": extraction.names,
        "case_candidates": [asdict(c) for c in result.case_match.candidates],
        "case_ambiguous": result.case_match.ambiguous,
    }
    doc.low_confidence_regions = [
        {"page": ocr.number, "box": [b.left, b.top, b.width, b.height]}
        for ocr in result.recognized.results
        for b in ocr.low_confidence_regions
    ]
    doc.department_id = routing.department_id
    doc.unit_code = routing.unit_code
    doc.case_id = routing.case_id
    doc.confidence = routing.confidence
    doc.decision = routing.decision
    doc.classifier_version = routing.classifier_version
    doc.alternatives = [asdict(a) for a in routing.alternatives]
    doc.reasons = routing.reasons
    doc.objects = result.objects
    doc.processed_at = utcnow()
    doc.processing_seconds = round(result.seconds, 3)
    doc.lease_owner = doc.lease_until = None
    doc.next_attempt_at = None
