"""Users: argon2 hashes, roles, departments, the first admin and the CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from mailroom import users
from mailroom.context import AppContext
from mailroom.errors import BadInputError, Conflict
from mailroom.settings import Settings
from storage.models import AuditEvent, User


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
