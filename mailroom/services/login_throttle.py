"""Login throttling (Schutz vor Passwort-Raten): refuse logins after repeated failures.

After ``login_max_failures`` failed logins for one user name, or
``login_max_failures_per_client`` from one client address, within
``login_window_seconds``, every further attempt for that name or from that address is
refused (HTTP 429) until enough of those failures have left the window. A refused attempt
checks no password and is not counted itself, so a blocked name is free again at the
latest one window after the last real failure; it is written to the audit trail.

**Kept in the database** (table ``login_failures``), not in process memory: in production
the web application runs as several processes, possibly on several hosts. Counters in
memory would multiply the limit by the number of processes, vanish with every restart, and
a guesser whose requests are spread over the processes by the load balancer would hardly
ever be stopped. The database is shared by all processes; a row per failure is cheap, and
rows older than the window are deleted as new failures come in. Attempts racing in
parallel can overshoot the limit by the number in flight: this is a brake on guessing,
not an exact counter.

The answer does not tell whether a user exists: unknown names are counted and refused
exactly like existing ones, with the same message, and no password hash is checked while
refused. A successful login clears the failures of that name. Someone who keeps guessing
can keep a name blocked (the price of a per-name limit, which an attacker switching
addresses cannot dodge); the ``login_throttled`` entries in the audit trail show it.

The client address is the one the web server reports. Behind a reverse proxy, let uvicorn
trust that proxy's ``X-Forwarded-For`` (environment variable ``FORWARDED_ALLOW_IPS``);
otherwise all users share the proxy's address and only the (higher) per-address limit
protects them — which is why that limit is higher than the per-name one: one office behind
a NAT address must not lock out the building after a few typos.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from config.settings import Settings
from mailroom.core.errors import TooManyAttempts, WrongPassword
from mailroom.infra.db.audit import audit
from mailroom.infra.db.models import LoginFailure, User, utcnow
from mailroom.services import users

CLIENT_MAX = 100


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures within which window block further attempts."""

    max_failures: int = 5
    max_failures_per_client: int = 20
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginPolicy:
        return cls(
            max_failures=settings.login_max_failures,
            max_failures_per_client=settings.login_max_failures_per_client,
            window=timedelta(seconds=settings.login_window_seconds),
        )


def username_key(username: str) -> str:
    """The name as counted: "Erika " and "erika" are the same target of guessing."""
    return username.strip().lower()[: users.USERNAME_MAX]


def client_key(client: str | None) -> str:
    return (client or "unbekannt")[:CLIENT_MAX]


def refused_message(wait_seconds: float) -> str:
    """The German message of a refused attempt (the same for every cause)."""
    minutes = max(1, math.ceil(wait_seconds / 60))
    when = "einer Minute" if minutes == 1 else f"{minutes} Minuten"
    return (
        "Zu viele fehlgeschlagene Anmeldeversuche. Aus Sicherheitsgründen ist die Anmeldung "
        f"vorübergehend gesperrt; bitte versuchen Sie es in {when} erneut."
    )


def _blocked_for(
    session: Session,
    column: InstrumentedAttribute[str],
    value: str,
    limit: int,
    window: timedelta,
    now: datetime,
) -> timedelta:
    """How long ``value`` stays blocked (zero if it is not)."""
    condition: ColumnElement[bool] = column == value
    recent = session.scalars(
        select(LoginFailure.at)
        .where(condition, LoginFailure.at > now - window)
        .order_by(LoginFailure.at.desc())
        .limit(limit)
    ).all()
    if len(recent) < limit:
        return timedelta(0)
    # Free again once the limit-th most recent failure has left the window.
    return max(timedelta(0), recent[limit - 1] + window - now)


def check(
    session: Session,
    policy: LoginPolicy,
    username: str,
    client: str | None,
    *,
    now: datetime | None = None,
) -> None:
    """Raise :class:`TooManyAttempts` when the name or the address is blocked."""
    now = now or utcnow()
    name, address = username_key(username), client_key(client)
    wait = max(
        _blocked_for(session, LoginFailure.username, name, policy.max_failures, policy.window, now),
        _blocked_for(
            session,
            LoginFailure.client,
            address,
            policy.max_failures_per_client,
            policy.window,
            now,
        ),
    )
    if wait > timedelta(0):
        seconds = wait.total_seconds()
        audit(session, name or "?", "login_throttled", client=address)
        raise TooManyAttempts(refused_message(seconds), retry_after=math.ceil(seconds))


def record_failure(
    session: Session,
    policy: LoginPolicy,
    username: str,
    client: str | None,
    *,
    now: datetime | None = None,
) -> None:
    """Count one failed attempt; forget failures that have left the window."""
    now = now or utcnow()
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - policy.window))
    session.add(LoginFailure(at=now, username=username_key(username), client=client_key(client)))


def record_success(session: Session, username: str) -> None:
    """A correct password clears the failures counted against this name."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == username_key(username)))


def authenticate(
    session: Session, policy: LoginPolicy, username: str, password: str, client: str | None
) -> User | None:
    """:func:`mailroom.services.users.authenticate` behind the throttle.

    Raises :class:`TooManyAttempts` while blocked; otherwise returns the user or ``None``
    and counts the failure. Commit the session in both cases: the audit entry and the
    counted failure must survive the refusal.
    """
    check(session, policy, username, client)
    user = users.authenticate(session, username, password)
    if user is None:
        record_failure(session, policy, username, client)
    else:
        record_success(session, user.username)
    return user


def change_own_password(
    session: Session,
    policy: LoginPolicy,
    user: User,
    current_password: str,
    new_password: str,
    client: str | None,
) -> None:
    """:func:`mailroom.services.users.change_own_password` behind the same throttle: a session left
    open on a shared PC must not become a way to guess the password."""
    check(session, policy, user.username, client)
    try:
        users.change_own_password(session, user, current_password, new_password)
    except WrongPassword:
        record_failure(session, policy, user.username, client)
        raise
