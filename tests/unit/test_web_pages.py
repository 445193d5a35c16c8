"""The server-rendered pages: login, CSRF, escaping, inbox, document view, Leitstand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailroom.infra.db.models import AuditEvent, Document
from mailroom.runtime.context import AppContext
from mailroom.web.app import create_app
from tests.factories import make_document
from tests.web_helpers import PASSWORD, csrf_in, login, seed_users


@pytest.fixture
def app_ctx(ctx: AppContext) -> AppContext:
    seed_users(ctx)
    return ctx


@pytest.fixture
def client(app_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(app_ctx)) as c:
        yield c


def test_pages_need_a_login(client: TestClient):
    response = client.get("/posteingang", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/posteingang"


def test_session_cookie_is_httponly_and_samesite(client: TestClient):
    token = csrf_in(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "clerk402", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/posteingang"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_wrong_password_is_refused_and_audited(client: TestClient, app_ctx: AppContext):
    token = csrf_in(client.get("/login").text)
    response = client.post(
        "/login", data={"username": "clerk402", "password": "falsch-falsch", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Benutzername oder Passwort falsch" in response.text
    with app_ctx.db.session() as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "login_failed"))


def test_forms_without_csrf_token_are_refused(client: TestClient, app_ctx: AppContext):
    doc = make_document(app_ctx, department_id="402")
    login(client, "clerk402")
    response = client.post(f"/documents/{doc}/accept", data={})
    assert response.status_code == 403
    response = client.post(f"/documents/{doc}/accept", data={"csrf_token": "geraten"})
    assert response.status_code == 403
    with app_ctx.db.session() as session:
        assert session.get(Document, doc).state == "routed"  # type: ignore[union-attr]


def test_login_without_csrf_token_is_refused(client: TestClient):
    client.get("/login")
    response = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 403


def test_letter_text_with_script_tag_is_shown_as_text(client: TestClient, app_ctx: AppContext):
    evil = '<script>alert("x")</script> Sehr geehrte Damen und Herren'
    doc = make_document(
        app_ctx,
        department_id="402",
        text=evil,
        subject="<b>Betreff</b>",
        sender="<img src=x onerror=alert(1)>",
    )
    login(client, "clerk402")
    page = client.get(f"/documents/{doc}")
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    assert "<img src=x" not in page.text and "<b>Betreff</b>" not in page.text
    inbox = client.get("/posteingang")
    assert "&lt;b&gt;Betreff&lt;/b&gt;" in inbox.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_clerk_cannot_open_another_departments_document_by_url(
    client: TestClient, app_ctx: AppContext
):
    other = make_document(app_ctx, department_id="304", subject="Brandschau")
    login(client, "clerk402")
    for path in ("", "/pages/1.jpg", "/file/pdf", "/file/text", "/file/original"):
        assert client.get(f"/documents/{other}{path}").status_code == 403, path
    assert "Brandschau" not in client.get("/posteingang").text
    assert '<span id="total">0</span>' in client.get("/posteingang?q=Brandschau").text


def test_inbox_lists_newest_first_with_search(client: TestClient, app_ctx: AppContext):
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    make_document(app_ctx, subject="Älterer Brief", received_at=now - timedelta(days=2))
    make_document(app_ctx, subject="Neuer Brief", received_at=now - timedelta(hours=1))
    make_document(app_ctx, subject="Unsicher", state="review", confidence=0.3)
    login(client, "clerk402")
    inbox = client.get("/posteingang").text
    assert inbox.index("Neuer Brief") < inbox.index("Älterer Brief")
    assert "Unsicher" not in inbox and "1 Klärfälle" in inbox
    assert '<span id="total">1</span>' in client.get("/posteingang?q=Neuer").text
    assert "Unsicher" in client.get("/klaerfaelle").text


def test_document_view_explains_routing_and_is_audited(client: TestClient, app_ctx: AppContext):
    doc = make_document(app_ctx, department_id="402", case="402.12-0042/2024")
    login(client, "clerk402")
    page = client.get(f"/documents/{doc}").text
    assert "An das Amt 402 adressiert" in page
    assert "402.12-0042/2024" in page
    assert "404.10" in page  # the runner-up alternative
    assert 'class="region"' in page  # low-confidence region marked
    assert f"/documents/{doc}/pages/1.jpg" in page
    with app_ctx.db.session() as session:
        views = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "view", AuditEvent.document_id == doc)
        ).all()
    assert [v.actor for v in views] == ["clerk402"]


def test_clerk_reassigns_by_form_and_document_moves_to_the_other_inbox(
    client: TestClient, app_ctx: AppContext
):
    doc = make_document(app_ctx, department_id="402", subject="Falsch zugestellt")
    token = login(client, "clerk402")
    response = client.post(
        f"/documents/{doc}/reassign",
        data={"target": "304.10", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/posteingang"
    assert "Falsch zugestellt" not in client.get("/posteingang").text
    other = TestClient(create_app(app_ctx))
    login(other, "clerk304")
    assert "Falsch zugestellt" in other.get("/posteingang").text


def test_bad_reassign_target_comes_back_as_message(client: TestClient, app_ctx: AppContext):
    doc = make_document(app_ctx, department_id="402")
    token = login(client, "clerk402")
    page = client.post(f"/documents/{doc}/reassign", data={"target": "999.99", "csrf_token": token})
    assert page.status_code == 200
    assert "999.99" in page.text and "does not exist" in page.text


def test_leitstand_shows_scan_lines_failed_documents_and_refreshes(
    client: TestClient, app_ctx: AppContext
):
    make_document(
        app_ctx,
        department_id=None,
        state="failed",
        reason="Tesseract: Seite leer",
        subject="defekt",
    )
    make_document(app_ctx, department_id=None, state="queued", subject="wartet")
    login(client, "leitstand")
    page = client.get("/leitstand")
    assert page.status_code == 200
    assert "Scanstraße 1" in page.text and "Tesseract: Seite leer" in page.text
    assert 'data-refresh="/leitstand/live"' in page.text
    assert "<svg" in page.text
    live = client.get("/leitstand/live")
    assert "Erneut verarbeiten" in live.text and "<html" not in live.text


def test_clerk_may_not_open_leitstand_or_verwaltung(client: TestClient):
    login(client, "clerk402")
    assert client.get("/leitstand").status_code == 403
    assert client.get("/verwaltung").status_code == 403


def test_logout_ends_the_session(client: TestClient):
    token = login(client, "admin")
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/verwaltung", follow_redirects=False).status_code == 303


def test_production_session_cookie_is_secure(tmp_path):
    from config.fileplan import load_file_plan
    from mailroom.infra.db.database import Database
    from mailroom.infra.objects import FilesystemObjectStore
    from tests.conftest import FILE_PLAN, make_settings

    settings = make_settings(
        tmp_path / "data",
        environment="production",
        database_url=f"sqlite:///{tmp_path / 'prod.db'}",
        broker_url="amqp://mailroom:x@127.0.0.1:1//",
        s3_endpoint="127.0.0.1:1",
        s3_access_key="mailroom",
        s3_secret_key="s3-secret-for-test",
        secret_key="a-real-secret-key-for-this-test",
    )
    db = Database(settings.db_url)
    db.upgrade()
    prod = AppContext(
        settings, db, FilesystemObjectStore(tmp_path / "objects"), load_file_plan(FILE_PLAN)
    )
    prod.sync_configuration()
    seed_users(prod)
    client = TestClient(create_app(prod), base_url="https://testserver")
    token = csrf_in(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert "secure" in response.headers["set-cookie"].lower()
    prod.close()


def test_mailroom_web_command_takes_host_and_port():
    from typer.testing import CliRunner

    from mailroom.cli import app

    result = CliRunner().invoke(app, ["web", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output
