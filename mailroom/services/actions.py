"""What people do with a document, for the web pages and the JSON API alike.

Clerk decisions (accept, reassign, attach to a case) are written as
:class:`~mailroom.infra.db.models.RoutingDecision` rows with ``is_label=True``: they are the
training data of the router. Operator actions (retry, quarantine) act on the pipeline. Every action
checks :mod:`mailroom.services.access` and is written to the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailroom.core.errors import (
    BadInputError,
    BrokerUnavailable,
    Conflict,
    NotFound,
    PermissionDenied,
)
from mailroom.core.states import DocumentState
from mailroom.infra.db.audit import audit
from mailroom.infra.db.models import (
    Case,
    Department,
    Document,
    FilePlanUnit,
    OriginalRequest,
    RoutingDecision,
    User,
    utcnow,
)
from mailroom.infra.queue import DocumentMessage, DocumentQueue
from mailroom.lifecycle import IllegalTransition, transition
from mailroom.services import access, originals

#: States a clerk can decide on (Posteingang and Klärfälle).
DECIDABLE = (DocumentState.ROUTED, DocumentState.REVIEW)
#: States an operator can send back to the queue.
RETRYABLE = (DocumentState.FAILED, DocumentState.QUARANTINED)
#: States an operator can quarantine (not while a worker holds the document).
QUARANTINABLE = (
    DocumentState.FAILED,
    DocumentState.RETRY_WAIT,
    DocumentState.RECEIVED,
    DocumentState.QUEUED,
)


def _require_decide(user: User, doc: Document) -> None:
    if not access.can_decide(user, doc):
        raise PermissionDenied("only a clerk of the document's department or an admin may decide")
    if doc.state not in DECIDABLE:
        raise Conflict(
            f"document is {doc.state}; only routed documents and Klärfälle can be decided"
        )


def _require_operate(user: User, doc: Document, allowed: tuple[DocumentState, ...]) -> None:
    if not access.can_operate(user, doc):
        raise PermissionDenied("only an operator or an admin may do this")
    if doc.state not in allowed:
        names = ", ".join(s.value for s in allowed)
        raise Conflict(f"document is {doc.state}; this action needs one of: {names}")


def _change(
    session: Session,
    user: User,
    doc: Document,
    state: DocumentState,
    reason: str,
    allowed: tuple[DocumentState, ...],
    **values: Any,
) -> None:
    """The action's state change, checked against the table and ``allowed``.

    A document changed meanwhile (by a colleague or a worker) is a :class:`Conflict`; the
    caller's transaction then rolls back.
    """
    previous = transition(
        session, doc.id, state, user.username, reason=reason, expect=allowed, values=values
    )
    if previous is None:
        raise Conflict("the document has just been changed: reload it and try again")


def _label(session: Session, user: User, doc: Document, kind: str) -> RoutingDecision:
    """Record the person's decision as a training label."""
    decision = RoutingDecision(
        document_id=doc.id,
        created_at=utcnow(),
        kind=kind,
        actor=user.username,
        department_id=doc.department_id,
        unit_code=doc.unit_code,
        case_id=doc.case_id,
        confidence=1.0,
        classifier_version=doc.classifier_version,
        alternatives=doc.alternatives,
        reasons=doc.reasons,
        is_label=True,
    )
    session.add(decision)
    return decision


def _active_unit(session: Session, code: str) -> FilePlanUnit:
    unit = session.get(FilePlanUnit, code.strip())
    if unit is None or not unit.active:
        raise BadInputError(f"file-plan unit {code!r} does not exist: pick one from the Aktenplan")
    return unit


def accept(session: Session, user: User, doc: Document) -> RoutingDecision:
    """Annehmen: the clerk confirms department, unit and case as routed."""
    _require_decide(user, doc)
    if doc.department_id is None:
        raise Conflict("document has no department yet: reassign it instead")
    _change(session, user, doc, DocumentState.ACCEPTED, "angenommen", DECIDABLE)
    audit(
        session,
        user.username,
        "accept",
        document=doc,
        department=doc.department_id,
        unit=doc.unit_code,
        case_id=doc.case_id,
    )
    return _label(session, user, doc, "accept")


def reassign(
    session: Session,
    user: User,
    doc: Document,
    *,
    unit_code: str | None = None,
    department_id: str | None = None,
) -> RoutingDecision:
    """Umleiten: send the document to another file-plan unit or department.

    It lands as a new document in the target department's Posteingang.
    """
    _require_decide(user, doc)
    if unit_code:
        unit = _active_unit(session, unit_code)
        target_unit: str | None = unit.code
        target_dept = unit.department_id
    elif department_id:
        dept = session.get(Department, department_id.strip())
        if dept is None or not dept.active:
            raise BadInputError(f"department {department_id!r} does not exist in the Aktenplan")
        target_unit, target_dept = None, dept.id
    else:
        raise BadInputError("reassign needs a file-plan unit or a department")
    before = {"department": doc.department_id, "unit": doc.unit_code, "case_id": doc.case_id}
    doc.department_id = target_dept
    if target_unit != doc.unit_code:
        doc.case_id = None  # a case belongs to one unit
    doc.unit_code = target_unit
    doc.decision = "reassign"
    _change(session, user, doc, DocumentState.ROUTED, f"umgeleitet von {user.username}", DECIDABLE)
    audit(
        session,
        user.username,
        "reassign",
        document=doc,
        before=before,
        department=target_dept,
        unit=target_unit,
    )
    return _label(session, user, doc, "reassign")


def find_case(session: Session, aktenzeichen: str) -> Case:
    """The open case with this Aktenzeichen (exact, else by normalised reference key)."""
    from classifiers.references import normalize

    text = aktenzeichen.strip()
    if not text:
        raise BadInputError("enter an Aktenzeichen")
    case = session.scalar(select(Case).where(Case.aktenzeichen == text))
    if case is None:
        case = session.scalar(
            select(Case).where(Case.reference_key == normalize(text)).order_by(Case.id)
        )
    if case is None:
        raise NotFound(f"no case with Aktenzeichen {text!r}", hint="open a new case instead")
    if case.status != "open":
        raise Conflict(f"case {case.aktenzeichen} is {case.status}, not open")
    return case


def _attach(
    session: Session, user: User, doc: Document, case: Case, action: str
) -> RoutingDecision:
    before = {"department": doc.department_id, "unit": doc.unit_code, "case_id": doc.case_id}
    doc.case_id = case.id
    doc.unit_code = case.unit_code
    target_dept = session.get(FilePlanUnit, case.unit_code)
    moved = target_dept is not None and target_dept.department_id != doc.department_id
    if target_dept is not None:
        doc.department_id = target_dept.department_id
    doc.decision = "attach_case"
    # A case of another department moves the document to that department's inbox.
    state = DocumentState.ROUTED if moved else DocumentState.ACCEPTED
    _change(session, user, doc, state, f"Vorgang {case.aktenzeichen} zugeordnet", DECIDABLE)
    audit(
        session,
        user.username,
        action,
        document=doc,
        before=before,
        case=case.aktenzeichen,
        unit=case.unit_code,
    )
    return _label(session, user, doc, "attach_case")


def attach_case(session: Session, user: User, doc: Document, aktenzeichen: str) -> RoutingDecision:
    """Einem Vorgang zuordnen: attach the document to an existing open case."""
    _require_decide(user, doc)
    return _attach(session, user, doc, find_case(session, aktenzeichen), "attach_case")


def open_case(
    session: Session,
    user: User,
    doc: Document,
    *,
    aktenzeichen: str,
    unit_code: str,
    subject: str = "",
) -> RoutingDecision:
    """Neuen Vorgang anlegen: create a case under a file-plan unit and attach the document."""
    from classifiers.references import normalize

    _require_decide(user, doc)
    text = aktenzeichen.strip()
    if not text or len(text) > 120:
        raise BadInputError("enter an Aktenzeichen of 1-120 characters")
    unit = _active_unit(session, unit_code)
    if session.scalar(select(Case.id).where(Case.aktenzeichen == text)) is not None:
        raise Conflict(f"a case {text!r} exists already: attach the document to it")
    case = Case(
        aktenzeichen=text,
        reference_key=normalize(text),
        unit_code=unit.code,
        subject=(subject or doc.subject or "").strip()[:500],
        names=[],
        status="open",
        created_at=utcnow(),
        created_by=user.username,
    )
    session.add(case)
    session.flush()
    audit(session, user.username, "case_open", document=doc, case=text, unit=unit.code)
    return _attach(session, user, doc, case, "attach_case")


def request_original(
    session: Session, user: User, doc: Document, reason: str = ""
) -> OriginalRequest:
    """Papieroriginal anfordern: ask the scan centre for the paper original
    (the workflow is in :mod:`mailroom.services.originals`)."""
    return originals.request(session, user, doc, reason)


def retry(session: Session, queue: DocumentQueue, user: User, doc: Document) -> None:
    """Erneut verarbeiten: put a failed or quarantined document back on the queue.

    Commits the session first, then publishes: a worker must never see the message before
    the state change. If the broker is down, the sweeper republishes queued documents.
    """
    _require_operate(user, doc, RETRYABLE)
    if not _back_to_queue(session, user.username, doc):
        raise Conflict("the document has just been changed: reload it and try again")
    session.commit()
    queue.publish(DocumentMessage(doc.id, attempt=1))


@dataclass(frozen=True)
class Resent:
    """What :func:`retry_many` did."""

    queued: list[str]  # back on the queue, with fresh attempts
    skipped: list[str]  # changed meanwhile (no longer failed or quarantined): left alone
    published: int  # messages the broker took; the sweeper republishes the rest


def retry_candidates(
    session: Session,
    *,
    state: str = DocumentState.FAILED,
    reason_contains: str | None = None,
    user: User | None = None,
) -> list[Document]:
    """The documents a bulk retry sends, oldest first: in ``state`` (failed or quarantined),
    their reason containing ``reason_contains`` (any case), and visible to ``user``."""
    if state not in RETRYABLE:
        names = ", ".join(s.value for s in RETRYABLE)
        raise BadInputError(f"only documents in one of these states can be retried: {names}")
    query = select(Document).where(Document.state == state)
    if reason_contains:
        query = query.where(Document.state_reason.icontains(reason_contains, autoescape=True))
    if user is not None:
        query = query.where(access.visible_filter(user))
    return list(session.scalars(query.order_by(Document.updated_at)))


def retry_many(
    session: Session, queue: DocumentQueue, docs: Sequence[Document], *, by: User | str
) -> Resent:
    """Erneut verarbeiten for many documents at once (``mailroom retry``, the Leitstand's
    *Alle erneut verarbeiten*): each goes back to the queue with fresh attempts as in
    :func:`retry`, each resend with its own audit entry.

    ``by`` is the user, checked as in :func:`retry`, or the name of the command line's
    actor (whoever runs it reaches the database anyway). A document changed meanwhile is
    skipped. Commits, then publishes through one connection.
    """
    actor = by if isinstance(by, str) else by.username
    queued: list[str] = []
    skipped: list[str] = []
    for doc in docs:
        if not isinstance(by, str):
            _require_operate(by, doc, RETRYABLE)
        (queued if _resend(session, actor, doc) else skipped).append(doc.id)
    session.commit()
    return Resent(queued, skipped, _publish_all(queue, queued))


def _resend(session: Session, actor: str, doc: Document) -> bool:
    """One document of a bulk retry; False if it is no longer failed or quarantined."""
    try:
        return _back_to_queue(session, actor, doc, bulk=True)
    except IllegalTransition:
        return False


def _back_to_queue(session: Session, actor: str, doc: Document, **detail: Any) -> bool:
    """The state change of a retry and its audit entry; False if another process won."""
    previous = transition(
        session,
        doc.id,
        DocumentState.QUEUED,
        actor,
        reason=f"erneut von {actor}",
        expect=RETRYABLE,
        values={
            "attempts": 0,
            "next_attempt_at": None,
            "lease_owner": None,
            "lease_until": None,
        },
    )
    if previous is None:
        return False
    audit(session, actor, "retry", document=doc, **detail)
    return True


def _publish_all(queue: DocumentQueue, document_ids: Sequence[str]) -> int:
    """Publish one message per document; stop at the first refusal. Returns how many."""
    if not document_ids:
        return 0
    published = 0
    try:
        with queue.connect() as conn:
            for doc_id in document_ids:
                queue.publish(DocumentMessage(doc_id, attempt=1), conn)
                published += 1
    except BrokerUnavailable:
        pass  # the rest are queued in the database: the sweeper republishes them
    return published


def quarantine(session: Session, user: User, doc: Document, reason: str) -> None:
    """Quarantäne: take a document out of processing for good (it can be retried later)."""
    _require_operate(user, doc, QUARANTINABLE)
    text = reason.strip() or f"von {user.username} in Quarantäne gestellt"
    _change(session, user, doc, DocumentState.QUARANTINED, text[:2000], QUARANTINABLE)
    audit(session, user.username, "quarantine", document=doc, reason=text[:2000])
