"""The JSON API under ``/api/`` — the same operations as the pages, for a DMS or scripts.

Authenticate with ``POST /api/token`` and send ``Authorization: Bearer <token>``; a browser
session works too, but then state-changing calls need the ``X-CSRF-Token`` header from
``GET /api/session``.
"""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from mailroom.core.errors import BadInputError, BrokerUnavailable, TooManyAttempts
from mailroom.infra.db.models import Document, User
from mailroom.services import access, actions, login_throttle, originals, stats
from mailroom.services import users as user_service
from mailroom.web import models_admin, queries
from mailroom.web.deps import (
    TOKEN_MAX_AGE_SECONDS,
    Admin,
    AnyStaff,
    Clerk,
    Csrf,
    Ctx,
    DbSession,
    LoginRequired,
    Operator,
    client_address,
    csrf_token,
    issue_token,
    password_fingerprint,
)
from mailroom.web.routes import files
from mailroom.web.schemas import (
    ActionResult,
    AttachCaseIn,
    DocumentDetail,
    DocumentList,
    DocumentSummary,
    JobOut,
    ModelVersionOut,
    NoteIn,
    OpenCaseIn,
    OriginalRequestOut,
    PasswordChangeIn,
    ReasonIn,
    ReassignIn,
    ScanLineOut,
    SessionOut,
    TokenIn,
    TokenOut,
    UserOut,
)

router = APIRouter(prefix="/api", tags=["api"])


def _result(doc: Document) -> ActionResult:
    return ActionResult(
        document_id=doc.id,
        state=doc.state,
        department_id=doc.department_id,
        unit_code=doc.unit_code,
        case_id=doc.case_id,
    )


@router.post("/token", response_model=TokenOut)
def token(request: Request, body: TokenIn, session: DbSession, ctx: Ctx) -> TokenOut:
    """Exchange username and password for a bearer token (no cookie, no CSRF needed).

    Repeated failures for a name or from an address are refused with 429 and
    ``Retry-After`` (see :mod:`mailroom.services.login_throttle`).
    """
    policy = login_throttle.LoginPolicy.from_settings(ctx.settings)
    try:
        user = login_throttle.authenticate(
            session, policy, body.username, body.password, client_address(request)
        )
    except TooManyAttempts:
        session.commit()  # keep the audited refusal
        raise
    if user is None:
        session.commit()  # keep the audited failed attempt and its count
        raise LoginRequired("wrong username or password")
    return TokenOut(access_token=issue_token(request, user), expires_in=TOKEN_MAX_AGE_SECONDS)


@router.post("/password", response_model=TokenOut, dependencies=[Csrf])
def change_password(
    request: Request, body: PasswordChangeIn, user: AnyStaff, session: DbSession, ctx: Ctx
) -> TokenOut:
    """Change the own password (the current one is required; wrong guesses are throttled
    like failed logins). Every other session and token ends; the answer carries a new
    token, and a browser session making the call stays logged in."""
    policy = login_throttle.LoginPolicy.from_settings(ctx.settings)
    try:
        login_throttle.change_own_password(
            session,
            policy,
            user,
            body.current_password,
            body.new_password,
            client_address(request),
        )
    except (TooManyAttempts, BadInputError):
        session.commit()  # keep the audit entry and the counted wrong password
        raise
    if getattr(request.state, "auth", None) == "session":
        request.session["fp"] = password_fingerprint(user)
    return TokenOut(access_token=issue_token(request, user), expires_in=TOKEN_MAX_AGE_SECONDS)


@router.get("/session", response_model=SessionOut)
def session_info(request: Request, user: AnyStaff) -> SessionOut:
    """Who is logged in, and the CSRF token for state-changing calls with the cookie."""
    return SessionOut(
        username=user.username,
        role=user.role,
        departments=[d.id for d in user.departments],
        csrf_token=csrf_token(request),
    )


@router.get("/documents", response_model=DocumentList)
def list_documents(
    user: AnyStaff,
    session: DbSession,
    state: Annotated[list[str] | None, Query()] = None,
    department: str | None = None,
    q: str = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DocumentList:
    """The documents the caller may see, newest first; ``total`` counts only those."""
    listing = queries.list_documents(
        session,
        user,
        states=tuple(state or ()) or None,
        department_id=department,
        q=q,
        limit=limit,
        offset=offset,
    )
    return DocumentList(total=listing.total, items=[DocumentSummary.of(d) for d in listing.items])


@router.get("/review", response_model=DocumentList)
def review(user: Clerk, session: DbSession, department: str | None = None) -> DocumentList:
    """Klärfälle the caller may decide, oldest first."""
    listing = queries.review_queue(session, user, department_id=department)
    return DocumentList(total=listing.total, items=[DocumentSummary.of(d) for d in listing.items])


@router.get("/documents/{document_id}", response_model=DocumentDetail)
def get_document(document_id: str, user: AnyStaff, session: DbSession) -> DocumentDetail:
    doc = access.load_visible(session, user, document_id)
    access.record_view(session, user, doc, "api_view")
    return DocumentDetail.detail(doc)


@router.get("/documents/{document_id}/pages/{number}", response_class=Response)
def get_page(
    document_id: str, number: int, user: AnyStaff, session: DbSession, ctx: Ctx
) -> Response:
    """The page image (JPEG)."""
    return files.page_image(session, ctx, user, document_id, number)


@router.get("/documents/{document_id}/{kind}", response_class=Response)
def get_file(document_id: str, kind: str, user: AnyStaff, session: DbSession, ctx: Ctx) -> Response:
    """``pdf`` (searchable PDF/A), ``text`` or ``original``."""
    return files.document_file(session, ctx, user, document_id, kind)


def _load(session: Session, user: User, document_id: str, what: str) -> Document:
    return access.load_visible(session, user, document_id, what=what)


@router.post("/documents/{document_id}/accept", response_model=ActionResult, dependencies=[Csrf])
def accept(document_id: str, user: Clerk, session: DbSession) -> ActionResult:
    doc = _load(session, user, document_id, "accept")
    actions.accept(session, user, doc)
    return _result(doc)


@router.post("/documents/{document_id}/reassign", response_model=ActionResult, dependencies=[Csrf])
def reassign(document_id: str, body: ReassignIn, user: Clerk, session: DbSession) -> ActionResult:
    doc = _load(session, user, document_id, "reassign")
    actions.reassign(session, user, doc, unit_code=body.unit_code, department_id=body.department_id)
    return _result(doc)


@router.post(
    "/documents/{document_id}/attach-case", response_model=ActionResult, dependencies=[Csrf]
)
def attach_case(
    document_id: str, body: AttachCaseIn, user: Clerk, session: DbSession
) -> ActionResult:
    doc = _load(session, user, document_id, "attach_case")
    actions.attach_case(session, user, doc, body.aktenzeichen)
    return _result(doc)


@router.post("/documents/{document_id}/open-case", response_model=ActionResult, dependencies=[Csrf])
def open_case(document_id: str, body: OpenCaseIn, user: Clerk, session: DbSession) -> ActionResult:
    doc = _load(session, user, document_id, "open_case")
    actions.open_case(
        session,
        user,
        doc,
        aktenzeichen=body.aktenzeichen,
        unit_code=body.unit_code,
        subject=body.subject,
    )
    return _result(doc)


@router.post(
    "/documents/{document_id}/request-original", response_model=ActionResult, dependencies=[Csrf]
)
def request_original(
    document_id: str, body: ReasonIn, user: Clerk, session: DbSession
) -> ActionResult:
    doc = _load(session, user, document_id, "request_original")
    actions.request_original(session, user, doc, body.reason)
    return _result(doc)


@router.get("/original-requests", response_model=list[OriginalRequestOut])
def list_original_requests(
    user: AnyStaff,
    session: DbSession,
    status: Annotated[list[str] | None, Query()] = None,
    scan_line: str | None = None,
    document_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[OriginalRequestOut]:
    """Requests for paper originals, by scan line and batch: all of them for operators and
    admins, those of the own departments for clerks. ``status``: open, provided, destroyed."""
    rows = originals.list_requests(
        session,
        user,
        statuses=status,
        scan_line_id=scan_line,
        document_id=document_id,
        limit=limit,
    )
    names = originals.display_names(session, rows)
    return [OriginalRequestOut.of(r, names) for r in rows]


@router.post(
    "/original-requests/{request_id}/provided",
    response_model=OriginalRequestOut,
    dependencies=[Csrf],
)
def original_provided(
    request_id: int, body: NoteIn, user: Operator, session: DbSession
) -> OriginalRequestOut:
    """Bereitgestellt: the scan centre sent the paper to the requesting department."""
    row = originals.mark_provided(session, user, request_id, body.note)
    return OriginalRequestOut.of(row, originals.display_names(session, [row]))


@router.post(
    "/original-requests/{request_id}/destroyed",
    response_model=OriginalRequestOut,
    dependencies=[Csrf],
)
def original_destroyed(
    request_id: int, body: NoteIn, user: Operator, session: DbSession
) -> OriginalRequestOut:
    """Nicht mehr vorhanden: the paper was already destroyed; ``note`` (required) says why."""
    row = originals.mark_destroyed(session, user, request_id, body.note)
    return OriginalRequestOut.of(row, originals.display_names(session, [row]))


@router.post("/documents/{document_id}/retry", response_model=ActionResult, dependencies=[Csrf])
def retry(document_id: str, user: Operator, session: DbSession, ctx: Ctx) -> ActionResult:
    """Put a failed document back on the queue (the sweeper republishes if the broker is down)."""
    doc = _load(session, user, document_id, "retry")
    with contextlib.suppress(BrokerUnavailable):  # committed as queued: the sweeper republishes
        actions.retry(session, ctx.queue, user, doc)
    return _result(doc)


@router.post(
    "/documents/{document_id}/quarantine", response_model=ActionResult, dependencies=[Csrf]
)
def quarantine(
    document_id: str, body: ReasonIn, user: Operator, session: DbSession
) -> ActionResult:
    doc = _load(session, user, document_id, "quarantine")
    actions.quarantine(session, user, doc, body.reason)
    return _result(doc)


@router.get("/scan-lines", response_model=list[ScanLineOut])
def scan_lines(user: Operator, session: DbSession) -> list[ScanLineOut]:
    """The Leitstand figures per scan line."""
    return [
        ScanLineOut(
            scan_line_id=s.scan_line_id,
            name=s.name,
            waiting=s.waiting,
            in_progress=s.in_progress,
            done_today=s.done_today,
            failed=s.failed,
            oldest_waiting_seconds=s.oldest_waiting_seconds,
        )
        for s in stats.scan_line_overview(session)
    ]


@router.get("/users", response_model=list[UserOut])
def list_users(user: Admin, session: DbSession) -> list[UserOut]:
    return [UserOut.of(u) for u in user_service.list_users(session)]


@router.get("/models", response_model=list[ModelVersionOut])
def list_models(user: Admin, session: DbSession) -> list[ModelVersionOut]:
    return [ModelVersionOut.of(m) for m in models_admin.list_versions(session)]


@router.post("/models/{action}", response_model=JobOut, dependencies=[Csrf])
def model_action(
    request: Request, action: str, user: Admin, ctx: Ctx, version: str = "", force: bool = False
) -> JobOut:
    """``train`` and ``evaluate`` start a background job; ``promote`` and ``rollback`` act now."""
    jobs = request.app.state.jobs
    message = models_admin.run_action(ctx, jobs, user.username, action, version, force)
    latest = jobs.jobs()[0] if action in ("train", "evaluate") else None
    return JobOut(
        id=latest.id if latest else "",
        kind=action,
        status=latest.status if latest else "fertig",
        detail=message,
    )


@router.get("/jobs", response_model=list[JobOut])
def list_jobs(request: Request, user: Admin) -> list[JobOut]:
    return [
        JobOut(id=j.id, kind=j.kind, status=j.status, detail=j.detail)
        for j in request.app.state.jobs.jobs()
    ]
