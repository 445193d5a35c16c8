"""Login, logout and the start page that sends each role to its home."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailroom.core.errors import TooManyAttempts
from mailroom.infra.db.audit import audit
from mailroom.infra.db.models import Role, User
from mailroom.services import login_throttle
from mailroom.web.deps import (
    Csrf,
    Ctx,
    DbSession,
    client_address,
    optional_user,
    password_fingerprint,
)
from mailroom.web.rendering import flash, render

router = APIRouter()

HOME = {Role.OPERATOR: "/leitstand", Role.CLERK: "/posteingang", Role.ADMIN: "/verwaltung"}


def home_of(user: User) -> str:
    return HOME.get(Role(user.role), "/login")


def _safe_next(target: str | None) -> str | None:
    """Only local paths, so the login cannot redirect to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@router.get("/", include_in_schema=False)
def start(user: Annotated[User | None, Depends(optional_user)]) -> Response:
    return RedirectResponse(home_of(user) if user else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", None, {"next": _safe_next(next) or ""})


@router.post("/login", include_in_schema=False, dependencies=[Csrf])
def login(
    request: Request,
    session: DbSession,
    ctx: Ctx,
    username: Annotated[str, Form(max_length=120)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form()] = "",
) -> Response:
    """Check the credentials behind the login throttle; a refusal is shown on the form."""
    policy = login_throttle.LoginPolicy.from_settings(ctx.settings)
    try:
        user = login_throttle.authenticate(
            session, policy, username, password, client_address(request)
        )
    except TooManyAttempts as exc:
        response = render(
            request,
            "login.html",
            None,
            {"next": _safe_next(next) or "", "error": str(exc)},
            status_code=exc.http_status,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if user is None:
        return render(
            request,
            "login.html",
            None,
            {"next": _safe_next(next) or "", "error": "Benutzername oder Passwort falsch."},
            status_code=401,
        )
    request.session.clear()  # a fresh session (and CSRF token) per login
    request.session["uid"] = user.id
    request.session["fp"] = password_fingerprint(user)
    return RedirectResponse(_safe_next(next) or home_of(user), status_code=303)


@router.post("/logout", include_in_schema=False, dependencies=[Csrf])
def logout(
    request: Request,
    session: DbSession,
    user: Annotated[User | None, Depends(optional_user)],
) -> Response:
    if user is not None:
        audit(session, user.username, "logout")
    request.session.clear()
    flash(request, "Abgemeldet.")
    return RedirectResponse("/login", status_code=303)
