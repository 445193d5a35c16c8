"""Document listings for pages and API, all filtered through :mod:`mailroom.services.access`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload

from mailroom.core.states import DocumentState
from mailroom.infra.db.models import Case, Department, Document, FilePlanUnit, Role, User
from mailroom.services import access

INBOX_LIST_STATES = (DocumentState.ROUTED.value, DocumentState.ACCEPTED.value)


@dataclass
class Listing:
    total: int
    items: list[Document]


def _search(query: Select[Document], text: str) -> Select[Document]:
    """Search subject, sender, text, source name and Aktenzeichen (case-insensitive)."""
    text = text.strip()[:200]
    if not text:
        return query
    like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    cases = select(Case.id).where(Case.aktenzeichen.ilike(like, escape="\\"))
    return query.where(
        or_(
            Document.subject.ilike(like, escape="\\"),
            Document.sender.ilike(like, escape="\\"),
            Document.text.ilike(like, escape="\\"),
            Document.source_name.ilike(like, escape="\\"),
            Document.case_id.in_(cases),
        )
    )


def list_documents(
    session: Session,
    user: User,
    *,
    states: tuple[str, ...] | None = None,
    department_id: str | None = None,
    q: str = "",
    oldest_first: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> Listing:
    """What ``user`` may see, filtered; ``total`` counts only visible documents."""
    query = select(Document).where(access.visible_filter(user))
    if states:
        query = query.where(Document.state.in_(states))
    if department_id:
        query = query.where(Document.department_id == department_id)
    query = _search(query, q)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = Document.received_at.asc() if oldest_first else Document.received_at.desc()
    items = session.scalars(
        query.options(selectinload(Document.case))
        .order_by(order, Document.id)
        .limit(max(1, min(limit, 500)))
        .offset(max(0, offset))
    ).all()
    return Listing(int(total), list(items))


def inbox(session: Session, user: User, *, department_id: str | None, q: str = "") -> Listing:
    """Posteingang: routed and accepted documents, newest first."""
    return list_documents(
        session, user, states=INBOX_LIST_STATES, department_id=department_id, q=q, limit=200
    )


def review_queue(session: Session, user: User, *, department_id: str | None = None) -> Listing:
    """Klärfälle: documents below the confidence threshold, oldest first."""
    return list_documents(
        session,
        user,
        states=(DocumentState.REVIEW.value,),
        department_id=department_id,
        oldest_first=True,
        limit=200,
    )


def departments_for(session: Session, user: User) -> list[Department]:
    """Departments the user can pick in the inbox (own ones; all for admins)."""
    if user.role == Role.ADMIN:
        return list(
            session.scalars(select(Department).where(Department.active).order_by(Department.id))
        )
    return sorted(access_departments(user), key=lambda d: d.id)


def access_departments(user: User) -> list[Department]:
    return list(user.departments) if user.role == Role.CLERK else []


def all_units(session: Session) -> list[FilePlanUnit]:
    """Active file-plan units for the reassign picker."""
    return list(
        session.scalars(
            select(FilePlanUnit)
            .where(FilePlanUnit.active)
            .options(selectinload(FilePlanUnit.department))
            .order_by(FilePlanUnit.code)
        )
    )


def all_departments(session: Session) -> list[Department]:
    return list(
        session.scalars(select(Department).where(Department.active).order_by(Department.id))
    )


def open_cases_of(session: Session, department_id: str | None, limit: int = 300) -> list[Case]:
    """Open cases of a department, for the attach-case picker."""
    if department_id is None:
        return []
    units = select(FilePlanUnit.code).where(FilePlanUnit.department_id == department_id)
    return list(
        session.scalars(
            select(Case)
            .where(Case.status == "open", Case.unit_code.in_(units))
            .order_by(Case.aktenzeichen)
            .limit(limit)
        )
    )
