"""Leitstand: scan lines, throughput, failed documents, requests for paper originals;
retry (one document, or all failed ones matching a filter), quarantine, and marking a paper
original as provided or no longer there.

The page also says which service is unreachable and since when, from the web
application's :class:`~mailroom.services.health.HealthMonitor` (never by asking a service
itself). Without the database it still renders: the banner, and no counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mailroom.core.errors import BadInputError, BrokerUnavailable, Conflict, DatabaseUnavailable
from mailroom.infra.db.models import OriginalRequestStatus, Role, User
from mailroom.runtime.context import AppContext
from mailroom.services import access, actions, originals, stats
from mailroom.services.health import Health, HealthMonitor
from mailroom.web.charts import throughput_chart
from mailroom.web.deps import (
    Csrf,
    Ctx,
    DbSession,
    LoginRequired,
    Operator,
    current_user,
    optional_user,
    require_roles,
)
from mailroom.web.rendering import flash, render

router = APIRouter(include_in_schema=False)

_operator = require_roles(Role.OPERATOR, Role.ADMIN)


def leitstand_data(
    session: Session, ctx: AppContext, user: User, health: Health | None = None
) -> dict[str, Any]:
    """Everything the Leitstand shows; also used by the self-refreshing fragment."""
    seen = health or Health()
    requests = originals.list_requests(session, user, statuses=(OriginalRequestStatus.OPEN.value,))
    return {
        "now": datetime.now(UTC),
        "problems": seen.problems(),
        "database_ok": True,
        "lines": stats.scan_line_overview(session),
        "chart": throughput_chart(stats.throughput(session, hours=6, bucket_minutes=10)),
        "failed": stats.failed_documents(session, limit=100),
        "queue_depth": seen.queue["waiting"],
        "dead_depth": seen.queue["dead"],
        "original_requests": requests,
        "requesters": originals.display_names(session, requests),
    }


@router.get("/leitstand", response_class=HTMLResponse)
def leitstand(request: Request, session: DbSession, ctx: Ctx) -> Response:
    return _board(request, session, ctx, "leitstand.html")


@router.get("/leitstand/live", response_class=HTMLResponse)
def leitstand_live(request: Request, session: DbSession, ctx: Ctx) -> Response:
    """The part of the Leitstand that refreshes itself every few seconds."""
    return _board(request, session, ctx, "leitstand_live.html")


def _board(request: Request, session: Session, ctx: AppContext, template: str) -> Response:
    """The Leitstand for an operator; while the database is away, only what is wrong.

    The monitor's last answer decides first, so a database known to be away (or frozen)
    is not waited for; one that went away since is caught on the first query.
    """
    monitor: HealthMonitor = request.app.state.health
    health = monitor.current
    if health.down("database"):
        return _outage(request, template, health)
    try:
        user = _operator(current_user(optional_user(request, session)))
        return render(request, template, user, leitstand_data(session, ctx, user, health))
    except (DatabaseUnavailable, OperationalError):
        session.rollback()
        return _outage(request, template, health.with_down("database"))


def _outage(request: Request, template: str, health: Health) -> Response:
    """The banner without the database: who is logged in cannot be checked now, so only
    a signed session (someone logged in earlier) sees it, and nothing from the database."""
    if not isinstance(request.session.get("uid"), int):
        raise LoginRequired("please log in")
    values = {"now": datetime.now(UTC), "problems": health.problems(), "database_ok": False}
    return render(request, template, None, values)


@router.post("/leitstand/originale/{request_id}", dependencies=[Csrf])
def close_original_request(
    request: Request,
    request_id: int,
    user: Operator,
    session: DbSession,
    outcome: Annotated[str, Form(max_length=20)],
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """``outcome`` ``provided`` (bereitgestellt) or ``destroyed`` (nicht mehr vorhanden)."""
    try:
        if outcome == OriginalRequestStatus.PROVIDED.value:
            row = originals.mark_provided(session, user, request_id, note)
            flash(request, f"Original von {row.document.source_name} als bereitgestellt vermerkt.")
        elif outcome == OriginalRequestStatus.DESTROYED.value:
            row = originals.mark_destroyed(session, user, request_id, note)
            flash(
                request,
                f"Original von {row.document.source_name} als nicht mehr vorhanden vermerkt.",
            )
        else:
            raise BadInputError(f"unknown outcome {outcome!r}: use provided or destroyed")
    except (BadInputError, Conflict) as exc:
        session.rollback()
        flash(request, exc.message, "error")
    return RedirectResponse("/leitstand#originale", status_code=303)


@router.post("/documents/{document_id}/retry", dependencies=[Csrf])
def retry(
    request: Request, document_id: str, user: Operator, session: DbSession, ctx: Ctx
) -> Response:
    doc = access.load_visible(session, user, document_id, what="retry")
    try:
        actions.retry(session, ctx.queue, user, doc)
        flash(request, f"Dokument {doc.source_name} wird erneut verarbeitet.")
    except BrokerUnavailable:
        flash(
            request,
            "Warteschlange nicht erreichbar; das Dokument wird automatisch erneut eingestellt.",
            "error",
        )
    except Conflict as exc:
        session.rollback()
        flash(request, str(exc), "error")
    return RedirectResponse("/leitstand", status_code=303)


@router.post("/leitstand/erneut", dependencies=[Csrf])
def retry_all(
    request: Request,
    user: Operator,
    session: DbSession,
    ctx: Ctx,
    state: Annotated[str, Form(max_length=20)] = "failed",
    reason_contains: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Alle erneut verarbeiten: every document in ``state`` whose reason contains the text
    (as ``mailroom retry --state --reason-contains``), each resend audited."""
    try:
        docs = actions.retry_candidates(
            session, state=state, reason_contains=reason_contains.strip() or None, user=user
        )
        resent = actions.retry_many(session, ctx.queue, docs, by=user)
    except BadInputError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return RedirectResponse("/leitstand", status_code=303)
    flash(request, *_resent_message(resent))
    return RedirectResponse("/leitstand", status_code=303)


def _resent_message(resent: actions.Resent) -> tuple[str, str]:
    """The flash message after a bulk retry and its kind."""
    text = f"{len(resent.queued)} Dokumente werden erneut verarbeitet."
    if resent.skipped:
        text += f" {len(resent.skipped)} übersprungen (inzwischen geändert)."
    if resent.published < len(resent.queued):
        text += " Warteschlange nicht erreichbar; sie werden automatisch erneut eingestellt."
        return text, "error"
    return text, "ok"


@router.post("/documents/{document_id}/quarantine", dependencies=[Csrf])
def quarantine(
    request: Request,
    document_id: str,
    user: Operator,
    session: DbSession,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    doc = access.load_visible(session, user, document_id, what="quarantine")
    try:
        actions.quarantine(session, user, doc, reason)
        flash(request, f"Dokument {doc.source_name} ist in Quarantäne.")
    except Conflict as exc:
        session.rollback()
        flash(request, str(exc), "error")
    return RedirectResponse("/leitstand", status_code=303)
