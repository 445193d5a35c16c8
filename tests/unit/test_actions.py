"""Document actions: each is checked, audited, and a clerk's decision becomes a training label."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailroom.core.errors import BadInputError, Conflict, NotFound, PermissionDenied
from mailroom.infra.db.models import (
    AuditEvent,
    Batch,
    Case,
    Document,
    OriginalRequest,
    RoutingDecision,
)
from mailroom.runtime.context import AppContext
from mailroom.services import actions, originals
from mailroom.services.users import get_user
from tests.factories import make_document
from tests.web_helpers import seed_users


@pytest.fixture
def seeded(ctx: AppContext) -> AppContext:
    seed_users(ctx)
    return ctx


def load(session: Session, doc_id: str) -> Document:
    doc = session.get(Document, doc_id)
    assert doc is not None
    return doc


def audit_actions(ctx: AppContext, doc_id: str) -> list[str]:
    with ctx.db.session() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.document_id == doc_id)
                .order_by(AuditEvent.id)
            )
        )


def labels(ctx: AppContext, doc_id: str) -> list[RoutingDecision]:
    with ctx.db.session() as session:
        return list(
            session.scalars(
                select(RoutingDecision)
                .where(RoutingDecision.document_id == doc_id)
                .order_by(RoutingDecision.id)
            )
        )


def test_accept_confirms_routing_as_training_label(seeded: AppContext):
    doc_id = make_document(seeded, department_id="402", state="review", confidence=0.5)
    with seeded.db.session() as session:
        actions.accept(session, get_user(session, "clerk402"), load(session, doc_id))
    with seeded.db.session() as session:
        assert load(session, doc_id).state == "accepted"
    [label] = labels(seeded, doc_id)
    assert (label.kind, label.unit_code, label.department_id, label.is_label) == (
        "accept",
        "402.12",
        "402",
        True,
    )
    assert audit_actions(seeded, doc_id)[-2:] == ["state", "accept"]


def test_clerk_of_another_department_may_not_decide(seeded: AppContext):
    doc_id = make_document(seeded, department_id="402")
    with seeded.db.session() as session:
        doc = load(session, doc_id)
        with pytest.raises(PermissionDenied):
            actions.accept(session, get_user(session, "clerk304"), doc)
        with pytest.raises(PermissionDenied):
            actions.accept(session, get_user(session, "leitstand"), doc)


def test_reassign_to_department_without_unit(seeded: AppContext):
    doc_id = make_document(seeded, department_id="402", case="402.12-0007/2024")
    with seeded.db.session() as session:
        actions.reassign(
            session,
            get_user(session, "clerk402"),
            load(session, doc_id),
            department_id="304",
        )
    with seeded.db.session() as session:
        doc = load(session, doc_id)
        assert (doc.department_id, doc.unit_code, doc.case_id, doc.state) == (
            "304",
            None,
            None,
            "routed",
        )
    assert labels(seeded, doc_id)[0].kind == "reassign"


def test_reassign_to_unknown_unit_is_refused(seeded: AppContext):
    doc_id = make_document(seeded, department_id="402")
    with seeded.db.session() as session, pytest.raises(BadInputError, match="does not exist"):
        actions.reassign(
            session,
            get_user(session, "clerk402"),
            load(session, doc_id),
            unit_code="999.1",
        )


def test_attach_to_case_of_another_department_moves_the_document(seeded: AppContext):
    doc_id = make_document(seeded, department_id="402")
    make_document(seeded, department_id="304", case="304.10-0815/2024")
    with seeded.db.session() as session:
        # Written differently than stored: found by the normalised reference key.
        actions.attach_case(
            session,
            get_user(session, "clerk402"),
            load(session, doc_id),
            "304.10 - 0815/24",
        )
    with seeded.db.session() as session:
        doc = load(session, doc_id)
        assert (doc.department_id, doc.unit_code, doc.state) == ("304", "304.10", "routed")
        assert doc.case is not None and doc.case.aktenzeichen == "304.10-0815/2024"
    assert labels(seeded, doc_id)[0].kind == "attach_case"


def test_attach_to_unknown_case_is_not_found(seeded: AppContext):
    doc_id = make_document(seeded, department_id="402")
    with seeded.db.session() as session, pytest.raises(NotFound):
        actions.attach_case(
            session,
            get_user(session, "clerk402"),
            load(session, doc_id),
            "402.12-9999/2020",
        )


def test_open_case_creates_it_and_refuses_duplicates(seeded: AppContext):
    doc_id = make_document(seeded, department_id="402")
    second = make_document(seeded, department_id="402")
    with seeded.db.session() as session:
        clerk = get_user(session, "clerk402")
        actions.open_case(
            session,
            clerk,
            load(session, doc_id),
            aktenzeichen="402.12-0100/2025",
            unit_code="402.12",
        )
    with seeded.db.session() as session:
        case = session.scalars(select(Case).where(Case.aktenzeichen == "402.12-0100/2025")).one()
        assert case.created_by == "clerk402" and case.reference_key
        assert load(session, doc_id).state == "accepted"
        with pytest.raises(Conflict):
            actions.open_case(
                session,
                get_user(session, "clerk402"),
                load(session, second),
                aktenzeichen="402.12-0100/2025",
                unit_code="402.12",
            )


def test_request_original_is_recorded_for_the_scan_centre(seeded: AppContext):
    doc_id = make_document(seeded, department_id="402")
    with seeded.db.session() as session:
        actions.request_original(
            session,
            get_user(session, "clerk402"),
            load(session, doc_id),
            "Unterschrift prüfen",
        )
    with seeded.db.session() as session:
        request = session.scalars(select(OriginalRequest)).one()
        assert (request.document_id, request.status, request.reason, request.department_id) == (
            doc_id,
            "open",
            "Unterschrift prüfen",
            "402",
        )
    assert "request_original" in audit_actions(seeded, doc_id)


def test_a_document_has_at_most_one_open_request_for_its_original(seeded: AppContext):
    doc_id = make_document(seeded, department_id="402")
    with seeded.db.session() as session:
        clerk = get_user(session, "clerk402")
        actions.request_original(session, clerk, load(session, doc_id), "Unterschrift")
    with seeded.db.session() as session, pytest.raises(Conflict, match="bereits angefordert"):
        actions.request_original(
            session, get_user(session, "clerk402"), load(session, doc_id), "nochmal"
        )
    with seeded.db.session() as session:
        [request] = session.scalars(select(OriginalRequest)).all()
        originals.mark_provided(session, get_user(session, "leitstand"), request.id)
    with seeded.db.session() as session:  # once handled, it may be asked for again
        actions.request_original(session, get_user(session, "clerk402"), load(session, doc_id))


def test_scan_centre_marks_an_original_as_provided_and_it_is_audited(seeded: AppContext):
    doc_id = make_document(seeded, department_id="402")
    with seeded.db.session() as session:
        request_id = actions.request_original(
            session, get_user(session, "clerk402"), load(session, doc_id), "Prüfung"
        ).id
    with seeded.db.session() as session:
        with pytest.raises(PermissionDenied):  # clerks ask, the scan centre answers
            originals.mark_provided(session, get_user(session, "clerk402"), request_id)
        originals.mark_provided(
            session, get_user(session, "leitstand"), request_id, "Hauspost, Mappe 12"
        )
    with seeded.db.session() as session:
        row = session.get(OriginalRequest, request_id)
        assert row is not None
        assert (row.status, row.handled_by, row.note) == (
            "provided",
            "leitstand",
            "Hauspost, Mappe 12",
        )
        assert row.handled_at is not None
        with pytest.raises(Conflict, match="bereits erledigt"):
            originals.mark_destroyed(session, get_user(session, "admin"), request_id, "weg")
    assert audit_actions(seeded, doc_id)[-1] == "original_provided"


def test_an_original_destroyed_already_needs_a_note(seeded: AppContext):
    doc_id = make_document(seeded, department_id="304")
    with seeded.db.session() as session:
        request_id = actions.request_original(
            session, get_user(session, "clerk304"), load(session, doc_id)
        ).id
    with seeded.db.session() as session:
        operator = get_user(session, "leitstand")
        with pytest.raises(BadInputError, match="vermerken"):
            originals.mark_destroyed(session, operator, request_id, "  ")
        originals.mark_destroyed(
            session, operator, request_id, "Vernichtet nach Ablauf der Frist am 01.10."
        )
    with seeded.db.session() as session:
        row = session.get(OriginalRequest, request_id)
        assert row is not None and row.status == "destroyed"
        with pytest.raises(NotFound):
            originals.mark_provided(session, operator, 999_999)
    with seeded.db.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "original_destroyed")
        ).one()
        assert event.document_id == doc_id
        assert event.detail is not None
        assert event.detail["note"].startswith("Vernichtet")


def test_requests_for_originals_are_listed_per_scan_line_and_batch_for_who_may_see_them(
    seeded: AppContext,
):
    with seeded.db.session() as session:
        session.add_all(
            [
                Batch(id=7, scan_line_id="scan-2", name="Stapel 2024-11-29 Nr. 7"),
                Batch(id=3, scan_line_id="scan-1", name="Stapel 2024-11-29 Nr. 3"),
            ]
        )
    first = make_document(seeded, department_id="402", scan_line_id="scan-2")
    second = make_document(seeded, department_id="402", scan_line_id="scan-1")
    fire = make_document(seeded, department_id="304", scan_line_id="scan-1")
    with seeded.db.session() as session:
        load(session, first).batch_id = 7
        load(session, second).batch_id = 3
    with seeded.db.session() as session:
        for doc_id, clerk in ((first, "clerk402"), (second, "clerk402"), (fire, "clerk304")):
            actions.request_original(session, get_user(session, clerk), load(session, doc_id))

    def visible(username: str, **filters: object) -> list[str]:
        with seeded.db.session() as session:
            rows = originals.list_requests(
                session,
                get_user(session, username),
                **filters,  # type: ignore[arg-type]
            )
            return [r.document_id for r in rows]

    # scan-1 before scan-2; within scan-1 the document without batch before batch 3.
    assert visible("leitstand") == [fire, second, first]
    assert visible("admin") == [fire, second, first]
    assert visible("clerk402") == [second, first]
    assert visible("clerk304") == [fire]
    assert visible("leitstand", scan_line_id="scan-2") == [first]
    assert visible("clerk304", document_id=first) == []
    assert visible("leitstand", statuses=["provided"]) == []
    with seeded.db.session() as session, pytest.raises(BadInputError, match="unknown status"):
        originals.list_requests(session, get_user(session, "leitstand"), statuses=["lost"])


def test_retry_requeues_with_fresh_attempts_and_publishes(seeded: AppContext):
    doc_id = make_document(seeded, department_id=None, state="failed", reason="kaputt")
    with seeded.db.session() as session:
        load(session, doc_id).attempts = 5
    before = seeded.queue.depth() or 0
    with seeded.db.session() as session:
        actions.retry(session, seeded.queue, get_user(session, "leitstand"), load(session, doc_id))
    with seeded.db.session() as session:
        doc = load(session, doc_id)
        assert (doc.state, doc.attempts) == ("queued", 0)
    assert seeded.queue.depth() == before + 1
    assert "retry" in audit_actions(seeded, doc_id)


def test_quarantine_needs_operator_and_a_fitting_state(seeded: AppContext):
    failed = make_document(seeded, department_id=None, state="failed", reason="kaputt")
    routed = make_document(seeded, department_id="402")
    with seeded.db.session() as session:
        with pytest.raises(PermissionDenied):
            actions.quarantine(session, get_user(session, "clerk402"), load(session, failed), "x")
        with pytest.raises(PermissionDenied):  # operators do not act on routed letters
            actions.quarantine(session, get_user(session, "leitstand"), load(session, routed), "x")
        with pytest.raises(Conflict):
            actions.quarantine(session, get_user(session, "admin"), load(session, routed), "x")
        actions.quarantine(
            session, get_user(session, "leitstand"), load(session, failed), "Leere Seiten"
        )
    with seeded.db.session() as session:
        doc = load(session, failed)
        assert (doc.state, doc.state_reason) == ("quarantined", "Leere Seiten")
