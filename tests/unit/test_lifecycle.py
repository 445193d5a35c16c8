"""The document lifecycle: the table of transitions, the one way to change a state, and the
audit trail's chain of state entries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from mailroom.core.domain import PageOcr, PreparedPage
from mailroom.core.errors import Conflict, NotFound, OcrError, OcrTimeout
from mailroom.core.states import DocumentState as S
from mailroom.infra.db.models import AuditEvent, Document, utcnow
from mailroom.lifecycle import IllegalTransition, begin, transition
from mailroom.runtime.context import AppContext
from mailroom.runtime.processor import DocumentProcessor, Outcome
from mailroom.runtime.registration import register_file
from mailroom.runtime.sweeper import Sweeper
from mailroom.services import actions
from mailroom.services.cases import import_cases_csv
from mailroom.services.users import get_user
from tests.audit_trail import assert_state_chain, state_changes
from tests.factories import make_document
from tests.letters import case_csv, two_page_letter
from tests.web_helpers import seed_users


class FailingEngine:
    """An OCR engine that fails every page with ``error`` (a broken or overloaded Tesseract)."""

    name = "failing"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def recognize(self, page: PreparedPage) -> PageOcr:
        raise self.error


@pytest.fixture
def received(ctx: AppContext, tmp_path: Path) -> str:
    """A letter the intake registered and did not publish: ``received``."""
    doc = register_file(
        ctx, ctx.scan_lines[0], two_page_letter(tmp_path / "brief.tif"), move=False, publish=False
    )
    assert doc is not None and doc.state == S.RECEIVED
    return doc.id


def row(ctx: AppContext, doc_id: str) -> tuple[Any, ...]:
    with ctx.db.session() as session:
        doc = session.get(Document, doc_id)
        assert doc is not None
        return (doc.state, doc.state_reason, doc.updated_at, doc.attempts, doc.lease_owner)


def changes(ctx: AppContext, doc_id: str) -> list[tuple[str | None, str | None]]:
    with ctx.db.session() as session:
        return state_changes(session, doc_id)


# --- the table --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "to"),
    [
        (S.ROUTED, S.PROCESSING),  # a finished document is never claimed again
        (S.DUPLICATE, S.QUEUED),  # a duplicate is never processed
        (S.ACCEPTED, S.ROUTED),  # an accepted letter stays with its clerk
        (S.RECEIVED, S.ACCEPTED),  # nobody decides on a letter not yet read
    ],
)
def test_an_illegal_transition_is_refused_and_changes_nothing(
    ctx: AppContext, state: S, to: S
) -> None:
    doc_id = make_document(ctx, department_id="402" if state != S.DUPLICATE else None, state=state)
    before = row(ctx, doc_id)
    # The session commits after the refusal: nothing was written all the same.
    with (
        ctx.db.session() as session,
        pytest.raises(IllegalTransition, match=f"is {state}; it cannot become {to}"),
    ):
        transition(session, doc_id, to, "test")
    assert row(ctx, doc_id) == before
    assert changes(ctx, doc_id) == []
    assert issubclass(IllegalTransition, Conflict)  # a 409 on the web, exit code 9 in the CLI


def test_expect_narrows_the_states_a_caller_may_start_from(ctx: AppContext, received: str) -> None:
    before = row(ctx, received)
    # received -> queued is in the table, but an operator's retry starts from failed only.
    with ctx.db.session() as session, pytest.raises(IllegalTransition):
        transition(session, received, S.QUEUED, "leitstand", expect=(S.FAILED,))
    assert row(ctx, received) == before
    assert changes(ctx, received) == [(None, S.RECEIVED)]


def test_an_unknown_document_is_not_found(ctx: AppContext) -> None:
    with ctx.db.session() as session, pytest.raises(NotFound):
        transition(session, "no-such-document", S.QUEUED, "test")


def test_a_new_document_starts_only_as_received_quarantined_or_duplicate(ctx: AppContext) -> None:
    with ctx.db.session() as session, pytest.raises(IllegalTransition, match="is new"):
        begin(session, Document(), S.ROUTED, "test")


# --- one transition, one audit entry ----------------------------------------------------


def test_a_legal_transition_writes_one_entry_with_the_exact_states(ctx: AppContext) -> None:
    doc_id = make_document(ctx, department_id="402", state=S.REVIEW)
    with ctx.db.session() as session:
        doc = session.get(Document, doc_id)
        assert doc is not None
        previous = transition(
            session, doc_id, S.ACCEPTED, "clerk402", reason="angenommen", department="402"
        )
        # The session's copy follows the change at once.
        assert (previous, doc.state, doc.state_reason) == (S.REVIEW, S.ACCEPTED, "angenommen")
    assert row(ctx, doc_id)[:2] == (S.ACCEPTED, "angenommen")
    with ctx.db.session() as session:
        [entry] = session.scalars(select(AuditEvent).where(AuditEvent.document_id == doc_id))
        assert (entry.action, entry.actor, entry.from_state, entry.to_state) == (
            "state",
            "clerk402",
            S.REVIEW,
            S.ACCEPTED,
        )
        assert entry.detail == {"reason": "angenommen", "department": "402"}


def test_values_and_where_are_part_of_the_one_conditional_update(
    ctx: AppContext, received: str
) -> None:
    lease = utcnow() + timedelta(minutes=5)
    with ctx.db.session() as session:
        taken = transition(
            session,
            received,
            S.PROCESSING,
            "w1",
            where=[Document.lease_owner.is_(None)],
            values={"attempts": Document.attempts + 1, "lease_owner": "w1", "lease_until": lease},
        )
    assert taken == S.RECEIVED
    state, reason, _, attempts, owner = row(ctx, received)
    assert (state, reason, attempts, owner) == (S.PROCESSING, None, 1, "w1")


# --- races ------------------------------------------------------------------------------


def test_a_transition_whose_condition_no_longer_holds_returns_none_and_writes_nothing(
    ctx: AppContext, received: str
) -> None:
    with ctx.db.session() as session:
        transition(session, received, S.PROCESSING, "w1", values={"lease_owner": "w1"})
    before = row(ctx, received)
    with ctx.db.session() as session:
        # Worker w2 takes over only a lease it holds itself; w1 holds this one.
        lost = transition(
            session, received, S.PROCESSING, "w2", where=[Document.lease_owner == "w2"]
        )
    assert lost is None
    assert row(ctx, received) == before
    assert changes(ctx, received) == [(None, S.RECEIVED), (S.RECEIVED, S.PROCESSING)]


@contextmanager
def another_process_first(ctx: AppContext, change: Callable[[Session], object]) -> Iterator[None]:
    """Run ``change`` in a session of its own right before the next UPDATE of a document:
    after the transition read the state, before it writes (the race window)."""
    done: list[bool] = []

    def in_between(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE documents") and not done:
            done.append(True)
            with ctx.db.session() as other:
                change(other)

    event.listen(ctx.db.engine, "before_cursor_execute", in_between)
    try:
        yield
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", in_between)
    assert done, "the race window was never reached"


def test_a_transition_that_loses_the_race_returns_none_and_writes_nothing(
    ctx: AppContext, received: str
) -> None:
    # The intake has read 'received'; a fast worker claims the document before it writes.
    claim = partial(transition, document_id=received, to=S.PROCESSING, actor="worker")
    with another_process_first(ctx, claim), ctx.db.session() as session:
        lost = transition(session, received, S.QUEUED, "intake:scan-1", expect=(S.RECEIVED,))
    assert lost is None
    assert row(ctx, received)[0] == S.PROCESSING
    # The claim's entry is there, the intake's is not: the chain skips queued.
    with ctx.db.session() as session:
        assert assert_state_chain(session, received) == [S.RECEIVED, S.PROCESSING]


def test_a_state_that_moves_on_to_an_allowed_one_is_followed(
    ctx: AppContext, received: str
) -> None:
    # The worker has read 'received'; the intake records 'queued' before the claim writes.
    queued = partial(
        transition, document_id=received, to=S.QUEUED, actor="intake", expect=(S.RECEIVED,)
    )
    with another_process_first(ctx, queued), ctx.db.session() as session:
        claimed = transition(
            session,
            received,
            S.PROCESSING,
            "worker",
            expect=(S.RECEIVED, S.QUEUED, S.RETRY_WAIT, S.PROCESSING),
        )
    assert claimed == S.QUEUED  # the claim still wins, now from 'queued'
    with ctx.db.session() as session:
        assert assert_state_chain(session, received) == [S.RECEIVED, S.QUEUED, S.PROCESSING]


# --- the product's transitions ----------------------------------------------------------


def make_stale(ctx: AppContext, doc_id: str) -> None:
    """Let the backoff of a document in retry_wait pass."""
    with ctx.db.session() as session:
        session.execute(
            update(Document)
            .where(Document.id == doc_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


@pytest.mark.slow
def test_every_transition_the_product_performs_is_in_the_table(
    ctx: AppContext, tmp_path: Path
) -> None:
    seed_users(ctx)
    with ctx.db.session() as session:
        import_cases_csv(session, case_csv(tmp_path / "cases.csv"), ctx.fileplan)
    line = ctx.scan_lines[0]
    worker = DocumentProcessor(ctx, "w1")
    letter_path = two_page_letter(tmp_path / "brief.tif")

    # Intake, a worker, a clerk: the normal life.
    letter = register_file(ctx, line, letter_path, move=False)
    assert letter is not None and worker.handle(letter.id).outcome is Outcome.DONE
    with ctx.db.session() as session:
        doc = session.get(Document, letter.id)
        assert doc is not None
        actions.accept(session, get_user(session, "admin"), doc)

    # The same bytes again; then a file that is no scan, retried and quarantined again.
    copy = tmp_path / "nochmal.tif"
    copy.write_bytes(letter_path.read_bytes())
    duplicate = register_file(ctx, line, copy, move=False)
    junk = tmp_path / "kaputt.pdf"
    junk.write_bytes(b"%PDF-1.4 not really")
    bad = register_file(ctx, line, junk, move=False)
    assert duplicate is not None and bad is not None
    with ctx.db.session() as session:
        operator = get_user(session, "leitstand")
        doc = session.get(Document, bad.id)
        assert doc is not None
        actions.retry(session, ctx.queue, operator, doc)
        actions.quarantine(session, operator, doc, "kein Scan")

    # An overloaded Tesseract (retried via the sweeper), then a broken one; the operator retries.
    other = register_file(
        ctx, line, two_page_letter(tmp_path / "zwei.tif", seed=11), move=False, publish=False
    )
    assert other is not None
    ctx.ocr = FailingEngine(OcrTimeout("tesseract took too long"))
    assert worker.handle(other.id).outcome is Outcome.RETRY
    make_stale(ctx, other.id)
    assert Sweeper(ctx).run() == 1
    ctx.ocr = FailingEngine(OcrError("tesseract crashed (signal 11)"))
    assert worker.handle(other.id).outcome is Outcome.DEAD
    with ctx.db.session() as session:
        doc = session.get(Document, other.id)
        assert doc is not None
        actions.retry(session, ctx.queue, get_user(session, "leitstand"), doc)

    with ctx.db.session() as session:
        chains = {
            doc_id: assert_state_chain(session, doc_id)
            for doc_id in (letter.id, duplicate.id, bad.id, other.id)
        }
    assert chains == {
        letter.id: [S.RECEIVED, S.QUEUED, S.PROCESSING, S.ROUTED, S.ACCEPTED],
        duplicate.id: [S.DUPLICATE],
        bad.id: [S.QUARANTINED, S.QUEUED, S.QUARANTINED],
        other.id: [
            S.RECEIVED,
            S.PROCESSING,
            S.RETRY_WAIT,
            S.QUEUED,
            S.PROCESSING,
            S.FAILED,
            S.QUEUED,
        ],
    }
