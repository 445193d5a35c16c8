"""The web application: ``create_app(ctx)`` builds it; ``mailroom web`` and ``up`` serve it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from mailroom.core.errors import MailroomError, TooManyAttempts
from mailroom.runtime.context import AppContext
from mailroom.services.health import HealthMonitor, Probes
from mailroom.web import api, metrics
from mailroom.web.deps import LoginRequired
from mailroom.web.jobs import JobRunner
from mailroom.web.rendering import render
from mailroom.web.routes import account, admin, auth, clerk, files, operator

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
SESSION_MAX_AGE_SECONDS = 10 * 3600  # one working day

#: No inline scripts, nothing from other origins (production networks have no internet).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; frame-ancestors 'self'; base-uri 'none'; "
    "form-action 'self'"
)


def create_app(ctx: AppContext, *, health: HealthMonitor | None = None) -> FastAPI:
    """Build the FastAPI application around an :class:`AppContext`.

    ``health`` watches the services for the Leitstand (by default the context's own
    database, broker and object store); it runs while the application does (its lifespan).
    """
    app = FastAPI(
        title="mailroom",
        description="Digitale Eingangspost: Dokumente, Weiterleitung und Klärfälle",
        version="1",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.ctx = ctx
    app.state.health = health or HealthMonitor(
        Probes.of(ctx.settings, ctx.db, ctx.queue, ctx.store)
    )
    app.state.jobs = JobRunner(ctx)
    app.add_middleware(
        SessionMiddleware,
        secret_key=ctx.settings.session_secret,
        session_cookie="mailroom_session",
        max_age=SESSION_MAX_AGE_SECONDS,
        same_site="lax",
        https_only=ctx.settings.environment == "production",
    )
    app.middleware("http")(_security_headers)
    app.add_exception_handler(MailroomError, _mailroom_error)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in (
        auth.router,
        account.router,
        operator.router,
        clerk.router,
        files.router,
        admin.router,
    ):
        app.include_router(router)
    app.include_router(api.router)
    app.include_router(metrics.router(ctx, app.state.health))
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The service monitor runs while the application serves."""
    monitor: HealthMonitor = app.state.health
    monitor.start()
    try:
        yield
    finally:
        monitor.stop()


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    if request.url.path.startswith(("/documents", "/api/documents")):
        response.headers.setdefault("Cache-Control", "private, no-store")
    return response


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


async def _mailroom_error(request: Request, exc: MailroomError) -> Response:
    """The one place where mailroom errors become HTTP responses."""
    if exc.http_status >= 500:
        log.error("request %s failed: %s", request.url.path, exc)
    headers = error_headers(exc)
    if _wants_json(request):
        return JSONResponse({"detail": str(exc)}, status_code=exc.http_status, headers=headers)
    if isinstance(exc, LoginRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    response = render(
        request,
        "error.html",
        None,
        {"status": exc.http_status, "message": str(exc)},
        status_code=exc.http_status,
    )
    response.headers.update(headers)
    return response


def error_headers(exc: MailroomError) -> dict[str, str]:
    """Headers an error response needs besides its status (``Retry-After`` on 429)."""
    if isinstance(exc, TooManyAttempts):
        return {"Retry-After": str(exc.retry_after)}
    return {}
