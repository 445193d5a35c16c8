"""Users of the web application (Benutzer): roles, departments, argon2 password hashes.

Roles: ``operator`` (Leitstand of the scan centre), ``clerk`` (Sachbearbeiter/in, bound to
one or more departments) and ``admin`` (Verwaltung). Used by the web app and by
``mailroom users add|list|set-role``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailroom.core.errors import BadInputError, Conflict, NotFound, WrongPassword
from mailroom.infra.db.audit import audit
from mailroom.infra.db.models import Department, Role, User

_hasher = PasswordHasher()

#: Usernames are short and printable so they fit the audit trail and log lines.
USERNAME_MAX = 120
PASSWORD_MIN = 10

# A dummy hash so that a login with an unknown username costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """A random password for a new account (about 100 bits)."""
    return secrets.token_urlsafe(16)


def parse_role(role: str) -> Role:
    """Turn a role name into :class:`Role`; a :class:`BadInputError` lists the valid ones."""
    try:
        return Role(role.strip().lower())
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise BadInputError(f"unknown role {role!r}: use one of {valid}") from None


def check_password_strength(password: str) -> None:
    """Refuse passwords shorter than :data:`PASSWORD_MIN` characters."""
    if len(password) < PASSWORD_MIN:
        raise BadInputError(f"password too short: use at least {PASSWORD_MIN} characters")


def get_user(session: Session, username: str) -> User:
    """The user with this name, or :class:`NotFound`."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}", hint="see 'mailroom users list'")
    return user


def _departments(session: Session, ids: Iterable[str]) -> list[Department]:
    wanted = sorted({i.strip() for i in ids if i.strip()})
    found = {d.id: d for d in session.scalars(select(Department).where(Department.id.in_(wanted)))}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise BadInputError(
            f"unknown department(s) {', '.join(missing)}: use ids from the file plan (Aktenplan)"
        )
    return [found[i] for i in wanted]


def _check_clerk_departments(role: Role, departments: list[Department]) -> None:
    if role is Role.CLERK and not departments:
        raise BadInputError("a clerk needs at least one department (--department ID)")


def add_user(
    session: Session,
    username: str,
    password: str,
    role: str,
    departments: Iterable[str] = (),
    *,
    display_name: str = "",
    actor: str = "cli",
) -> User:
    """Create a user; a clerk must be given at least one department."""
    username = username.strip()
    if not username or len(username) > USERNAME_MAX or not username.isprintable():
        raise BadInputError(f"invalid username {username!r}: 1-{USERNAME_MAX} printable characters")
    parsed = parse_role(role)
    check_password_strength(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} exists already", hint="use 'mailroom users set-role'")
    depts = _departments(session, departments)
    _check_clerk_departments(parsed, depts)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=parsed.value,
        active=True,
        departments=depts,
    )
    session.add(user)
    session.flush()
    audit(
        session,
        actor,
        "user_add",
        username=username,
        role=parsed.value,
        departments=[d.id for d in depts],
    )
    return user


def list_users(session: Session) -> list[User]:
    """All users, ordered by name."""
    return list(session.scalars(select(User).order_by(User.username)))


def set_role(
    session: Session,
    username: str,
    role: str,
    departments: Iterable[str] | None = None,
    *,
    actor: str = "cli",
) -> User:
    """Change a user's role (and departments, if given)."""
    user = get_user(session, username)
    parsed = parse_role(role)
    depts = _departments(session, departments) if departments is not None else user.departments
    _check_clerk_departments(parsed, list(depts))
    previous = user.role
    user.role = parsed.value
    user.departments = list(depts)
    audit(
        session,
        actor,
        "user_role",
        username=username,
        from_role=previous,
        role=parsed.value,
        departments=[d.id for d in user.departments],
    )
    return user


def set_departments(
    session: Session, username: str, departments: Iterable[str], *, actor: str = "cli"
) -> User:
    """Replace the departments of a user."""
    user = get_user(session, username)
    depts = _departments(session, departments)
    _check_clerk_departments(Role(user.role), depts)
    user.departments = depts
    audit(session, actor, "user_departments", username=username, departments=[d.id for d in depts])
    return user


def set_password(session: Session, username: str, password: str, *, actor: str = "cli") -> User:
    """Set a new password (invalidates API tokens issued for the old one)."""
    user = get_user(session, username)
    check_password_strength(password)
    user.password_hash = hash_password(password)
    audit(session, actor, "user_password", username=username)
    return user


def change_own_password(
    session: Session, user: User, current_password: str, new_password: str
) -> None:
    """Passwort ändern: a logged-in user replaces their own password.

    The current password is required (an unlocked PC is not enough); the new one must have
    :data:`PASSWORD_MIN` characters and differ from it. The change ends the user's other
    sessions and API tokens (they carry a fingerprint of the hash). Messages are German:
    they are shown on the page as they are. Raises before changing anything.
    """
    if not verify_password(user.password_hash, current_password):
        audit(session, user.username, "password_change_failed")
        raise WrongPassword("Das aktuelle Passwort ist falsch.")
    if len(new_password) < PASSWORD_MIN:
        raise BadInputError(
            f"Das neue Passwort ist zu kurz: bitte mindestens {PASSWORD_MIN} Zeichen."
        )
    if new_password == current_password:
        raise BadInputError("Das neue Passwort muss sich vom bisherigen unterscheiden.")
    user.password_hash = hash_password(new_password)
    audit(session, user.username, "password_change", username=user.username)


def set_active(session: Session, username: str, active: bool, *, actor: str = "cli") -> User:
    """Lock or unlock an account; locked users cannot log in or use tokens."""
    user = get_user(session, username)
    user.active = active
    audit(session, actor, "user_active", username=username, active=active)
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, else ``None`` (the attempt is audited)."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        verify_password(_DUMMY_HASH, password)
        audit(session, username[:USERNAME_MAX] or "?", "login_failed")
        return None
    if not user.active or not verify_password(user.password_hash, password):
        audit(session, user.username, "login_failed")
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit(session, user.username, "login")
    return user


def ensure_first_admin(session: Session) -> str | None:
    """Create user ``admin`` with a random password when there is no user at all.

    Returns the password so ``mailroom up`` can print it once; ``None`` if users exist.
    """
    if session.scalar(select(func.count(User.id))):
        return None
    password = generate_password()
    add_user(
        session, "admin", password, Role.ADMIN.value, display_name="Administrator", actor="system"
    )
    return password
