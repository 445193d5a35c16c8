"""Users: argon2 hashes, roles, departments, the first admin, the CLI, changing the own
password and login throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from config.settings import Settings
from mailroom.core.errors import BadInputError, Conflict, TooManyAttempts, WrongPassword
from mailroom.infra.db.models import AuditEvent, LoginFailure, User
from mailroom.runtime.context import AppContext
from mailroom.services import login_throttle, users


def test_password_is_stored_as_argon2_hash_and_authenticates(ctx: AppContext):
    with ctx.db.session() as session:
        users.add_user(session, "erika", "ein-langes-passwort", "clerk", ["402"])
    with ctx.db.session() as session:
        row = session.scalars(select(User).where(User.username == "erika")).one()
        assert row.password_hash.startswith("$argon2id$")
        assert "ein-langes-passwort" not in row.password_hash
        assert users.authenticate(session, "erika", "ein-langes-passwort") is not None
        assert users.authenticate(session, "erika", "falsches-passwort") is None
        assert users.authenticate(session, "niemand", "ein-langes-passwort") is None
        actions = list(session.scalars(select(AuditEvent.action)))
    assert actions.count("login") == 1 and actions.count("login_failed") == 2


def test_clerk_needs_a_department_and_roles_are_checked(ctx: AppContext):
    with ctx.db.session() as session:
        with pytest.raises(BadInputError, match="at least one department"):
            users.add_user(session, "ohne", "ein-langes-passwort", "clerk")
        with pytest.raises(BadInputError, match="use one of operator, clerk, admin"):
            users.add_user(session, "x", "ein-langes-passwort", "chef")
        with pytest.raises(BadInputError, match="unknown department"):
            users.add_user(session, "x", "ein-langes-passwort", "clerk", ["999"])
        with pytest.raises(BadInputError, match="too short"):
            users.add_user(session, "x", "kurz", "admin")


def test_duplicate_username_is_a_conflict(ctx: AppContext):
    with ctx.db.session() as session:
        users.add_user(session, "max", "ein-langes-passwort", "operator")
        with pytest.raises(Conflict):
            users.add_user(session, "max", "ein-langes-passwort", "admin")


def test_locked_user_cannot_log_in(ctx: AppContext):
    with ctx.db.session() as session:
        users.add_user(session, "max", "ein-langes-passwort", "operator")
        users.set_active(session, "max", False)
        assert users.authenticate(session, "max", "ein-langes-passwort") is None


def test_first_admin_is_created_once_with_a_random_password(ctx: AppContext):
    with ctx.db.session() as session:
        first = users.ensure_first_admin(session)
    assert first is not None and len(first) >= 16
    with ctx.db.session() as session:
        assert users.ensure_first_admin(session) is None
        assert users.authenticate(session, "admin", first) is not None
    other = AppContext.from_settings(ctx.settings)
    try:
        with other.db.session() as session:
            assert users.ensure_first_admin(session) is None
    finally:
        other.close()


def test_cli_adds_lists_and_changes_roles(
    settings: Settings, ctx: AppContext, monkeypatch: pytest.MonkeyPatch
):
    from mailroom.cli import app

    monkeypatch.setenv("MAILROOM_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    added = runner.invoke(
        app,
        ["users", "add", "erika", "--role", "clerk", "-d", "402", "-d", "304", "--password-stdin"],
        input="ein-langes-passwort\n",
    )
    assert added.exit_code == 0, added.output
    generated = runner.invoke(app, ["users", "add", "max", "--role", "operator"])
    assert generated.exit_code == 0, generated.output
    assert "Erstpasswort:" in generated.output
    changed = runner.invoke(app, ["users", "set-role", "max", "--role", "clerk", "-d", "402"])
    assert changed.exit_code == 0, changed.output
    refused = runner.invoke(app, ["users", "set-role", "erika", "--role", "chef"])
    assert refused.exit_code == BadInputError.exit_code
    listing = runner.invoke(app, ["users", "list"])
    assert "erika" in listing.output and "304, 402" in listing.output
    with ctx.db.session() as session:
        assert users.get_user(session, "max").role == "clerk"
        assert users.authenticate(session, "erika", "ein-langes-passwort") is not None


def test_own_password_change_needs_the_current_password_and_the_policy(ctx: AppContext):
    with ctx.db.session() as session:
        users.add_user(session, "erika", "ein-langes-passwort", "clerk", ["402"])
    with ctx.db.session() as session:
        erika = users.get_user(session, "erika")
        with pytest.raises(WrongPassword):
            users.change_own_password(session, erika, "geraten-geraten", "neues-langes-passwort")
        with pytest.raises(BadInputError, match=f"mindestens {users.PASSWORD_MIN} Zeichen"):
            users.change_own_password(session, erika, "ein-langes-passwort", "kurz")
        with pytest.raises(BadInputError, match="unterscheiden"):
            users.change_own_password(session, erika, "ein-langes-passwort", "ein-langes-passwort")
        assert users.verify_password(erika.password_hash, "ein-langes-passwort")
        users.change_own_password(session, erika, "ein-langes-passwort", "neues-langes-passwort")
    with ctx.db.session() as session:
        assert users.authenticate(session, "erika", "neues-langes-passwort") is not None
        assert users.authenticate(session, "erika", "ein-langes-passwort") is None
        events = list(
            session.scalars(
                select(AuditEvent.action).where(AuditEvent.actor == "erika").order_by(AuditEvent.id)
            )
        )
    assert events[:2] == ["password_change_failed", "password_change"]


def test_login_throttle_counts_failures_per_name_within_the_window(ctx: AppContext):
    policy = login_throttle.LoginPolicy(
        max_failures=3, max_failures_per_client=100, window=timedelta(minutes=15)
    )
    now = datetime.now(UTC)
    with ctx.db.session() as session:
        users.add_user(session, "erika", "ein-langes-passwort", "clerk", ["402"])
        # Two old failures have left the window and do not count.
        for minutes in (40, 20, 10, 5):
            login_throttle.record_failure(
                session, policy, "Erika ", f"10.0.0.{minutes}", now=now - timedelta(minutes=minutes)
            )
        login_throttle.check(session, policy, "erika", "10.0.0.1", now=now)
        login_throttle.record_failure(session, policy, "ERIKA", "10.0.0.2", now=now)
        with pytest.raises(TooManyAttempts) as refused:
            login_throttle.check(session, policy, "erika", "10.0.0.3", now=now)
        # Free again when the oldest counted failure (10 minutes ago) leaves the window.
        assert refused.value.retry_after == 5 * 60
        assert refused.value.http_status == 429
        assert "Zu viele fehlgeschlagene Anmeldeversuche" in refused.value.message
        login_throttle.check(session, policy, "erika", "10.0.0.3", now=now + timedelta(minutes=6))
        login_throttle.check(session, policy, "max", "10.0.0.3", now=now)
        # A correct password clears the name's failures.
        with pytest.raises(TooManyAttempts):
            login_throttle.authenticate(session, policy, "erika", "ein-langes-passwort", "x")
        login_throttle.record_success(session, "erika")
        assert (
            login_throttle.authenticate(session, policy, "erika", "ein-langes-passwort", "x")
            is not None
        )
        # Old rows went as new failures came in; the login cleared the rest.
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0


def test_login_throttle_counts_failures_per_client_address(ctx: AppContext):
    policy = login_throttle.LoginPolicy(max_failures=100, max_failures_per_client=3)
    with ctx.db.session() as session:
        for name in ("anna", "bert", "carl"):
            assert login_throttle.authenticate(session, policy, name, "falsch", "10.1.1.1") is None
        with pytest.raises(TooManyAttempts):
            login_throttle.authenticate(session, policy, "dora", "falsch", "10.1.1.1")
        assert login_throttle.authenticate(session, policy, "dora", "falsch", "10.2.2.2") is None
        throttled = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "login_throttled")
        ).one()
    assert (throttled.actor, throttled.detail) == ("dora", {"client": "10.1.1.1"})
