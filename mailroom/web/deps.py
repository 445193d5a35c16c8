"""Request dependencies declared once: context, database session, current user, CSRF.

Authentication has two ways in:

* the browser: a signed session cookie (HttpOnly, SameSite=Lax) holding the user id and a
  fingerprint of the password hash; every state-changing request must carry the session's
  CSRF token, as form field ``csrf_token`` or header ``X-CSRF-Token``;
* programs (a DMS): ``Authorization: Bearer <token>`` from ``POST /api/token``. Browsers
  never send such a header on their own, so bearer requests need no CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from mailroom.core.errors import MailroomError, PermissionDenied
from mailroom.infra.db.models import Role, User
from mailroom.runtime.context import AppContext

TOKEN_MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class LoginRequired(MailroomError):
    """No valid session or token: log in first."""

    http_status = 401


class CsrfError(MailroomError):
    """A state-changing request without the session's CSRF token."""

    http_status = 403


def get_ctx(request: Request) -> AppContext:
    """The application context the app was created with."""
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_session(request: Request) -> Iterator[Session]:
    """One database session per request, committed when the endpoint returns.

    ``scope="function"``: the commit happens before the response is sent, so a client
    that follows a redirect at once reads its own change.

    A refused access is committed too, so its audit entry survives the 403.
    """
    session = get_ctx(request).db.sessions()
    try:
        yield session
        session.commit()
    except PermissionDenied:
        session.commit()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def client_address(request: Request) -> str | None:
    """The caller's address as the server reports it (behind a proxy: see
    :mod:`mailroom.services.login_throttle` on ``FORWARDED_ALLOW_IPS``)."""
    return request.client.host if request.client else None


def password_fingerprint(user: User) -> str:
    """Changes whenever the password does: logs out sessions and voids tokens."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_ctx(request).settings.session_secret, salt="mailroom-api")


def issue_token(request: Request, user: User) -> str:
    """A signed bearer token for ``user``, valid for :data:`TOKEN_MAX_AGE_SECONDS`."""
    return _serializer(request).dumps({"uid": user.id, "fp": password_fingerprint(user)})


def _user_from_token(request: Request, session: Session, token: str) -> User | None:
    try:
        data = _serializer(request).loads(token, max_age=TOKEN_MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("uid"), int):
        return None
    user = session.get(User, data["uid"])
    if user is None or not user.active or data.get("fp") != password_fingerprint(user):
        return None
    return user


def optional_user(
    request: Request, session: Annotated[Session, Depends(get_session, scope="function")]
) -> User | None:
    """The logged-in user (cookie or bearer token), or ``None``."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = _user_from_token(request, session, header[7:].strip())
        request.state.auth = "bearer" if user else None
        return user
    uid = request.session.get("uid")
    if not isinstance(uid, int):
        return None
    user = session.get(User, uid)
    if user is None or not user.active or request.session.get("fp") != password_fingerprint(user):
        request.session.clear()
        return None
    request.state.auth = "session"
    return user


def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    """The logged-in user; :class:`LoginRequired` (redirect or 401) otherwise."""
    if user is None:
        raise LoginRequired("please log in")
    return user


def require_roles(*roles: Role) -> Callable[..., User]:
    """A dependency admitting only users with one of ``roles``."""

    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            raise PermissionDenied("your role may not open this page")
        return user

    return check


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def verify_csrf(
    request: Request, _user: Annotated[User | None, Depends(optional_user)]
) -> None:
    """Refuse a state-changing cookie request whose CSRF token is missing or wrong."""
    if getattr(request.state, "auth", None) == "bearer":
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value: Any = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    expected = request.session.get("csrf")
    if not sent or not isinstance(expected, str) or not secrets.compare_digest(sent, expected):
        raise CsrfError("CSRF token missing or wrong: reload the page and try again")


DbSession = Annotated[Session, Depends(get_session, scope="function")]
CurrentUser = Annotated[User, Depends(current_user)]
Ctx = Annotated[AppContext, Depends(get_ctx)]
Csrf = Depends(verify_csrf)
AnyStaff = Annotated[User, Depends(require_roles(Role.OPERATOR, Role.CLERK, Role.ADMIN))]
Operator = Annotated[User, Depends(require_roles(Role.OPERATOR, Role.ADMIN))]
Clerk = Annotated[User, Depends(require_roles(Role.CLERK, Role.ADMIN))]
Admin = Annotated[User, Depends(require_roles(Role.ADMIN))]
