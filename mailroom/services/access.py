"""Who may see and act on which document — the one place every listing, view, download,
search count and API call goes through.

* clerk (Sachbearbeiter/in): only documents in a department inbox (routed, Klärfall,
  accepted) whose department is one of the clerk's departments;
* operator (Leitstand): the operational view — documents still in or stuck in the pipeline
  (waiting, processing, failed, quarantined, duplicates), not the content of routed letters;
* admin: everything.

Requests for paper originals (:class:`~mailroom.infra.db.models.OriginalRequest`) follow their own
rule: the scan centre (operators) and admins see all of them, a clerk those of their own
departments.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, true
from sqlalchemy.orm import Session

from mailroom.core.errors import NotFound, PermissionDenied
from mailroom.core.states import INBOX_STATES, DocumentState
from mailroom.infra.db.audit import audit
from mailroom.infra.db.models import Document, OriginalRequest, Role, User

#: Documents the Leitstand works on.
OPERATIONAL_STATES = tuple(s.value for s in DocumentState if s not in INBOX_STATES)


def department_ids(user: User) -> list[str]:
    """The ids of the user's departments."""
    return [d.id for d in user.departments]


def visible_filter(user: User) -> ColumnElement[bool]:
    """A WHERE clause restricting ``Document`` rows to those ``user`` may see."""
    if not user.active:
        return false()
    if user.role == Role.ADMIN:
        return true()
    if user.role == Role.OPERATOR:
        return Document.state.in_(OPERATIONAL_STATES)
    if user.role == Role.CLERK:
        depts = department_ids(user)
        if not depts:
            return false()
        return Document.department_id.in_(depts) & Document.state.in_(
            [s.value for s in INBOX_STATES]
        )
    return false()


def can_view(user: User, doc: Document) -> bool:
    """True when ``user`` may see ``doc`` (the same rule as :func:`visible_filter`)."""
    if not user.active:
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.OPERATOR:
        return doc.state in OPERATIONAL_STATES
    if user.role == Role.CLERK:
        return doc.state in INBOX_STATES and doc.department_id in department_ids(user)
    return False


def can_decide(user: User, doc: Document) -> bool:
    """True when ``user`` may accept, reassign or attach ``doc`` (clerk of its department,
    or admin) — the users a Klärfall is shown to."""
    if user.role == Role.ADMIN:
        return user.active and doc.state in INBOX_STATES
    return user.role == Role.CLERK and can_view(user, doc)


def can_operate(user: User, doc: Document) -> bool:
    """True when ``user`` may retry or quarantine ``doc`` (operator or admin)."""
    return user.active and user.role in (Role.OPERATOR, Role.ADMIN) and can_view(user, doc)


def load_visible(session: Session, user: User, document_id: str, *, what: str = "view") -> Document:
    """Load a document for ``user``; :class:`NotFound` or :class:`PermissionDenied` otherwise.

    A refused attempt is written to the audit trail too.
    """
    doc = session.get(Document, document_id)
    if doc is None:
        raise NotFound(f"no document {document_id!r}")
    if not can_view(user, doc):
        audit(session, user.username, "access_denied", document=doc, what=what)
        raise PermissionDenied("this document belongs to another department or state")
    return doc


def record_view(session: Session, user: User, doc: Document, what: str = "view") -> None:
    """Write one view or download of a document to the audit trail."""
    audit(session, user.username, what, document=doc, role=user.role)


def original_request_filter(user: User) -> ColumnElement[bool]:
    """A WHERE clause restricting ``OriginalRequest`` rows to those ``user`` may see."""
    if not user.active:
        return false()
    if user.role in (Role.OPERATOR, Role.ADMIN):
        return true()
    if user.role == Role.CLERK:
        depts = department_ids(user)
        return OriginalRequest.department_id.in_(depts) if depts else false()
    return false()


def can_handle_original_requests(user: User) -> bool:
    """True when ``user`` may mark requests for paper originals as provided or destroyed
    (the scan centre: operators, and admins)."""
    return user.active and user.role in (Role.OPERATOR, Role.ADMIN)
