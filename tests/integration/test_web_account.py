"""Login throttling on the form and the API, and changing the own password."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailroom.infra.db.models import AuditEvent, User
from mailroom.runtime.context import AppContext
from mailroom.services.users import verify_password
from mailroom.web.app import create_app
from tests.conftest import make_settings
from tests.web_helpers import PASSWORD, csrf_in, login, seed_users, token_client

THROTTLED = "Zu viele fehlgeschlagene Anmeldeversuche"


@pytest.fixture
def client(web_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(web_ctx)) as c:
        yield c


def form_login(client: TestClient, username: str, password: str) -> httpx.Response:
    token = csrf_in(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def user_row(ctx: AppContext, username: str) -> User:
    with ctx.db.session() as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        session.expunge(user)
        return user


def test_five_failed_logins_lock_the_name_without_telling_whether_it_exists(
    client: TestClient, web_ctx: AppContext
):
    for name in ("clerk402", "niemand"):
        for _ in range(5):
            assert form_login(client, name, "falsch-geraten").status_code == 401
    # Now even the right password is refused, with the same answer as for an unknown name.
    known = form_login(client, "clerk402", PASSWORD)
    unknown = form_login(client, "niemand", PASSWORD)
    for response in (known, unknown):
        assert response.status_code == 429
        assert THROTTLED in response.text
        assert 0 < int(response.headers["retry-after"]) <= 15 * 60
    assert known.text == unknown.text
    assert client.get("/posteingang", follow_redirects=False).status_code == 303
    # Another user from another address is not affected.
    other = TestClient(create_app(web_ctx), client=("10.9.9.9", 50000))
    assert form_login(other, "clerk304", PASSWORD).status_code == 303
    with web_ctx.db.session() as session:
        throttled = session.scalars(
            select(AuditEvent.actor).where(AuditEvent.action == "login_throttled")
        ).all()
    assert sorted(throttled) == ["clerk402", "niemand"]


def test_failed_logins_from_one_address_lock_that_address(tmp_path: Path):
    settings = make_settings(tmp_path / "data", login_max_failures_per_client=4)
    ctx = AppContext.from_settings(settings)
    seed_users(ctx)
    try:
        guesser = TestClient(create_app(ctx), client=("10.0.0.66", 40000))
        for name in ("anna", "bert", "carl", "dora"):
            assert form_login(guesser, name, "falsch-geraten").status_code == 401
        assert form_login(guesser, "admin", PASSWORD).status_code == 429
        colleague = TestClient(create_app(ctx), client=("10.0.0.67", 40000))
        assert form_login(colleague, "admin", PASSWORD).status_code == 303
    finally:
        ctx.close()


def test_api_token_is_throttled_with_429_and_retry_after(client: TestClient):
    for _ in range(5):
        wrong = client.post("/api/token", json={"username": "leitstand", "password": "falsch"})
        assert wrong.status_code == 401
    refused = client.post("/api/token", json={"username": "leitstand", "password": PASSWORD})
    assert refused.status_code == 429
    assert THROTTLED in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) > 0


def test_a_successful_login_clears_the_count(client: TestClient):
    for _ in range(4):
        assert form_login(client, "admin", "falsch-geraten").status_code == 401
    assert form_login(client, "admin", PASSWORD).status_code == 303
    for _ in range(4):
        assert form_login(client, "admin", "falsch-geraten").status_code == 401
    assert form_login(client, "admin", PASSWORD).status_code == 303


def change_password(
    client: TestClient, token: str, current: str, new: str, repeat: str | None
) -> httpx.Response:
    return client.post(
        "/konto/passwort",
        data={
            "current_password": current,
            "new_password": new,
            "new_password_repeat": new if repeat is None else repeat,
            "csrf_token": token,
        },
        follow_redirects=False,
    )


def test_user_changes_own_password_and_other_sessions_end(client: TestClient, web_ctx: AppContext):
    elsewhere = TestClient(create_app(web_ctx))
    login(elsewhere, "clerk402")
    token = login(client, "clerk402")
    page = client.get("/konto")
    assert page.status_code == 200 and "Passwort ändern" in page.text
    changed = change_password(client, token, PASSWORD, "ganz-neues-passwort-1", None)
    assert changed.status_code == 303 and changed.headers["location"] == "/konto"
    assert "Ihr Passwort wurde geändert" in client.get("/konto").text  # still logged in
    assert client.get("/posteingang").status_code == 200
    assert elsewhere.get("/posteingang", follow_redirects=False).status_code == 303
    assert verify_password(user_row(web_ctx, "clerk402").password_hash, "ganz-neues-passwort-1")
    assert form_login(TestClient(create_app(web_ctx)), "clerk402", PASSWORD).status_code == 401
    with web_ctx.db.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "password_change")
        ).one()
    assert event.actor == "clerk402"


def test_password_change_refuses_wrong_current_short_and_mismatched(
    client: TestClient, web_ctx: AppContext
):
    token = login(client, "leitstand")
    wrong = change_password(client, token, "nicht-das-passwort", "ganz-neues-passwort-1", None)
    assert wrong.status_code == 422 and "aktuelle Passwort ist falsch" in wrong.text
    short = change_password(client, token, PASSWORD, "kurz", None)
    assert short.status_code == 422 and "mindestens 10 Zeichen" in short.text
    mismatch = change_password(client, token, PASSWORD, "ganz-neues-passwort-1", "anders-123456")
    assert mismatch.status_code == 422 and "stimmen nicht überein" in mismatch.text
    without_csrf = change_password(client, "geraten", PASSWORD, "ganz-neues-passwort-1", None)
    assert without_csrf.status_code == 403
    assert verify_password(user_row(web_ctx, "leitstand").password_hash, PASSWORD)
    with web_ctx.db.session() as session:
        failed = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "password_change_failed")
        ).all()
    assert [e.actor for e in failed] == ["leitstand"]


def test_guessing_the_current_password_is_throttled_like_a_login(client: TestClient):
    token = login(client, "admin")
    for _ in range(5):
        guess = change_password(client, token, "falsch-geraten", "ganz-neues-passwort-1", None)
        assert guess.status_code == 422
    refused = change_password(client, token, PASSWORD, "ganz-neues-passwort-1", None)
    assert refused.status_code == 429 and THROTTLED in refused.text


def test_api_client_changes_its_password_and_gets_a_new_token(web_ctx: AppContext):
    api = token_client(web_ctx, "clerk402")
    old_token = api.headers["Authorization"]
    wrong = api.post(
        "/api/password",
        json={"current_password": "falsch-geraten", "new_password": "ganz-neues-passwort-1"},
    )
    assert wrong.status_code == 422
    short = api.post("/api/password", json={"current_password": PASSWORD, "new_password": "kurz"})
    assert short.status_code == 422
    changed = api.post(
        "/api/password",
        json={"current_password": PASSWORD, "new_password": "ganz-neues-passwort-1"},
    )
    assert changed.status_code == 200, changed.text
    assert api.get("/api/session").status_code == 401  # the old token is void
    api.headers["Authorization"] = "Bearer " + changed.json()["access_token"]
    assert api.get("/api/session").json()["username"] == "clerk402"
    assert api.headers["Authorization"] != old_token
    assert verify_password(user_row(web_ctx, "clerk402").password_hash, "ganz-neues-passwort-1")
    with web_ctx.db.session() as session:
        failed = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "password_change_failed")
        ).all()
    assert [e.actor for e in failed] == ["clerk402"]


def test_api_password_change_with_the_cookie_needs_the_csrf_header(client: TestClient):
    login(client, "leitstand")
    body = {"current_password": PASSWORD, "new_password": "ganz-neues-passwort-1"}
    assert client.post("/api/password", json=body).status_code == 403
    header = {"X-CSRF-Token": client.get("/api/session").json()["csrf_token"]}
    assert client.post("/api/password", json=body, headers=header).status_code == 200
    assert client.get("/api/session").status_code == 200  # this session stays logged in
