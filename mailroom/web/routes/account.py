"""Mein Konto: the logged-in user's own account, and changing the own password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mailroom.core.errors import BadInputError, TooManyAttempts
from mailroom.infra.db.models import User
from mailroom.services import login_throttle
from mailroom.services.users import PASSWORD_MIN
from mailroom.web.deps import AnyStaff, Csrf, Ctx, DbSession, client_address, password_fingerprint
from mailroom.web.rendering import flash, render

router = APIRouter(include_in_schema=False)


def _page(request: Request, user: User, error: str | None = None, status: int = 200) -> Response:
    return render(
        request,
        "konto.html",
        user,
        {"password_min": PASSWORD_MIN, "error": error},
        status_code=status,
    )


@router.get("/konto", response_class=HTMLResponse)
def account(request: Request, user: AnyStaff) -> Response:
    return _page(request, user)


@router.post("/konto/passwort", dependencies=[Csrf])
def change_password(
    request: Request,
    user: AnyStaff,
    session: DbSession,
    ctx: Ctx,
    current_password: Annotated[str, Form(max_length=1000)],
    new_password: Annotated[str, Form(max_length=1000)],
    new_password_repeat: Annotated[str, Form(max_length=1000)],
) -> Response:
    """Change the own password; the current one is required and wrong guesses are
    throttled like failed logins. This session stays logged in, all others end."""
    if new_password != new_password_repeat:
        return _page(request, user, "Die beiden neuen Passwörter stimmen nicht überein.", 422)
    policy = login_throttle.LoginPolicy.from_settings(ctx.settings)
    try:
        login_throttle.change_own_password(
            session, policy, user, current_password, new_password, client_address(request)
        )
    except (TooManyAttempts, BadInputError) as exc:
        # Nothing was changed; the audit entry and the counted wrong password are kept
        # (the request's session commits when this answer is returned, not raised).
        response = _page(request, user, exc.message, exc.http_status)
        if isinstance(exc, TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    request.session["fp"] = password_fingerprint(user)
    flash(request, "Ihr Passwort wurde geändert.")
    return RedirectResponse("/konto", status_code=303)
