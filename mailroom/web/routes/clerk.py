"""Posteingang, Klärfälle and the document view with the clerk's actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from mailroom.core.errors import BadInputError, Conflict, NotFound, PermissionDenied
from mailroom.infra.db.models import Document, OriginalRequestStatus, Role, User
from mailroom.services import access, actions, originals
from mailroom.web import queries
from mailroom.web.deps import AnyStaff, Clerk, Csrf, DbSession
from mailroom.web.rendering import flash, render

router = APIRouter(include_in_schema=False)


def _department_choice(session: Session, user: User, wanted: str | None) -> tuple[Any, str | None]:
    departments = queries.departments_for(session, user)
    ids = [d.id for d in departments]
    if wanted and wanted not in ids:
        raise PermissionDenied("this department is not yours")
    return departments, wanted or None


@router.get("/posteingang", response_class=HTMLResponse)
def posteingang(
    request: Request, user: Clerk, session: DbSession, dept: str | None = None, q: str = ""
) -> Response:
    """Department inbox: new and in-progress documents, newest first, with search."""
    departments, chosen = _department_choice(session, user, dept)
    listing = queries.inbox(session, user, department_id=chosen, q=q)
    review = queries.review_queue(session, user, department_id=chosen)
    return render(
        request,
        "posteingang.html",
        user,
        {
            "listing": listing,
            "departments": departments,
            "dept": chosen or "",
            "q": q,
            "review_total": review.total,
        },
    )


@router.get("/klaerfaelle", response_class=HTMLResponse)
def klaerfaelle(
    request: Request, user: Clerk, session: DbSession, dept: str | None = None
) -> Response:
    """Review queue: documents below the confidence threshold, oldest first."""
    departments, chosen = _department_choice(session, user, dept)
    listing = queries.review_queue(session, user, department_id=chosen)
    return render(
        request,
        "klaerfaelle.html",
        user,
        {"listing": listing, "departments": departments, "dept": chosen or ""},
    )


@router.get("/documents/{document_id}", response_class=HTMLResponse)
def document_view(
    request: Request, document_id: str, user: AnyStaff, session: DbSession
) -> Response:
    """Page images beside the text and metadata, the routing explanation, the actions."""
    doc = access.load_visible(session, user, document_id)
    access.record_view(session, user, doc)
    requests = originals.list_requests(session, user, document_id=doc.id)
    return render(
        request,
        "document.html",
        user,
        {
            "doc": doc,
            "can_decide": access.can_decide(user, doc) and doc.state in actions.DECIDABLE,
            "can_request": access.can_decide(user, doc)
            and not any(r.status == OriginalRequestStatus.OPEN for r in requests),
            "original_requests": requests,
            "can_operate": access.can_operate(user, doc),
            "units": queries.all_units(session) if user.role != Role.OPERATOR else [],
            "departments": queries.all_departments(session),
            "cases": queries.open_cases_of(session, doc.department_id),
            "references": _references(doc),
        },
    )


def _references(doc: Document) -> list[str]:
    refs = (doc.extraction or {}).get("references") or []
    return [str(r.get("raw")) for r in refs if isinstance(r, dict) and r.get("raw")]


def _act(
    request: Request,
    session: Session,
    user: User,
    document_id: str,
    what: str,
    action: Callable[[Document], str],
) -> Response:
    """Run one clerk action; a refused input comes back as a message on the page."""
    doc = access.load_visible(session, user, document_id, what=what)
    try:
        message = action(doc)
    except (BadInputError, Conflict, NotFound) as exc:
        session.rollback()
        flash(request, str(exc), "error")
        return RedirectResponse(f"/documents/{document_id}", status_code=303)
    flash(request, message)
    session.commit()
    # After a reassignment the document may no longer be visible: go back to the inbox.
    session.refresh(doc)
    target = f"/documents/{doc.id}" if access.can_view(user, doc) else "/posteingang"
    return RedirectResponse(target, status_code=303)


@router.post("/documents/{document_id}/accept", dependencies=[Csrf])
def accept(request: Request, document_id: str, user: Clerk, session: DbSession) -> Response:
    def run(doc: Document) -> str:
        actions.accept(session, user, doc)
        return "Dokument angenommen."

    return _act(request, session, user, document_id, "accept", run)


@router.post("/documents/{document_id}/reassign", dependencies=[Csrf])
def reassign(
    request: Request,
    document_id: str,
    user: Clerk,
    session: DbSession,
    target: Annotated[str, Form(max_length=100)],
) -> Response:
    """``target`` is a file-plan unit code or ``dept:<id>`` from the searchable picker."""

    def run(doc: Document) -> str:
        value = target.strip()
        if value.startswith("dept:"):
            actions.reassign(session, user, doc, department_id=value[5:])
        else:
            actions.reassign(session, user, doc, unit_code=value.split(" ", 1)[0])
        return f"Dokument an {doc.unit_code or doc.department_id} weitergeleitet."

    return _act(request, session, user, document_id, "reassign", run)


@router.post("/documents/{document_id}/attach-case", dependencies=[Csrf])
def attach_case(
    request: Request,
    document_id: str,
    user: Clerk,
    session: DbSession,
    aktenzeichen: Annotated[str, Form(max_length=120)],
) -> Response:
    def run(doc: Document) -> str:
        actions.attach_case(session, user, doc, aktenzeichen)
        return f"Dem Vorgang {aktenzeichen.strip()} zugeordnet."

    return _act(request, session, user, document_id, "attach_case", run)


@router.post("/documents/{document_id}/open-case", dependencies=[Csrf])
def open_case(
    request: Request,
    document_id: str,
    user: Clerk,
    session: DbSession,
    aktenzeichen: Annotated[str, Form(max_length=120)],
    unit_code: Annotated[str, Form(max_length=100)],
    subject: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    def run(doc: Document) -> str:
        actions.open_case(
            session,
            user,
            doc,
            aktenzeichen=aktenzeichen,
            unit_code=unit_code.split(" ", 1)[0],
            subject=subject,
        )
        return f"Vorgang {aktenzeichen.strip()} angelegt und zugeordnet."

    return _act(request, session, user, document_id, "open_case", run)


@router.post("/documents/{document_id}/request-original", dependencies=[Csrf])
def request_original(
    request: Request,
    document_id: str,
    user: Clerk,
    session: DbSession,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    def run(doc: Document) -> str:
        actions.request_original(session, user, doc, reason)
        return "Papieroriginal bei der Scanstelle angefordert; der Stand steht unten."

    return _act(request, session, user, document_id, "request_original", run)
