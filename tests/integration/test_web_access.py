"""Who sees what through the JSON API, for every role, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailroom.infra.db.models import AuditEvent, RoutingDecision
from mailroom.runtime.context import AppContext
from mailroom.web.app import create_app
from tests.factories import make_document
from tests.web_helpers import token_client


@pytest.fixture
def docs(web_ctx: AppContext) -> dict[str, str]:
    return {
        "402": make_document(web_ctx, department_id="402", subject="Breitbandausbau Antrag"),
        "402review": make_document(
            web_ctx, department_id="402", state="review", confidence=0.41, subject="Unklare Anfrage"
        ),
        "304": make_document(web_ctx, department_id="304", subject="Brandschau Termin"),
        "failed": make_document(
            web_ctx,
            department_id=None,
            state="failed",
            reason="OCR failed: page unreadable",
            subject="kaputt",
        ),
    }


def ids(response: object) -> set[str]:
    data = response.json()  # type: ignore[attr-defined]
    return {item["id"] for item in data["items"]}


def test_clerk_lists_only_documents_of_own_department(web_ctx: AppContext, docs: dict[str, str]):
    client = token_client(web_ctx, "clerk402")
    listing = client.get("/api/documents")
    assert listing.status_code == 200
    assert ids(listing) == {docs["402"], docs["402review"]}
    assert listing.json()["total"] == 2


def test_search_counts_do_not_leak_other_departments(web_ctx: AppContext, docs: dict[str, str]):
    client = token_client(web_ctx, "clerk402")
    # "Brandschau" exists only in department 304's letter.
    hit = client.get("/api/documents", params={"q": "Brandschau"})
    assert hit.json() == {"total": 0, "items": []}
    assert client.get("/api/documents", params={"department": "304"}).json()["total"] == 0
    assert client.get("/api/documents", params={"q": "Breitband"}).json()["total"] == 1


def test_clerk_gets_403_for_every_file_of_another_department(
    web_ctx: AppContext, docs: dict[str, str]
):
    client = token_client(web_ctx, "clerk402")
    other = docs["304"]
    for path in ("", "/text", "/pdf", "/original", "/pages/1"):
        assert client.get(f"/api/documents/{other}{path}").status_code == 403, path
    assert client.post(f"/api/documents/{other}/accept").status_code == 403
    with web_ctx.db.session() as session:
        denied = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "access_denied", AuditEvent.document_id == other
            )
        ).all()
    assert len(denied) == 6


def test_clerk_downloads_own_files_and_each_view_is_audited(
    web_ctx: AppContext, docs: dict[str, str]
):
    client = token_client(web_ctx, "clerk402")
    own = docs["402"]
    detail = client.get(f"/api/documents/{own}")
    assert detail.status_code == 200
    assert detail.json()["alternatives"][0]["department_id"] == "402"
    assert client.get(f"/api/documents/{own}/pdf").content.startswith(b"%PDF")
    assert client.get(f"/api/documents/{own}/pages/1").headers["content-type"] == "image/jpeg"
    assert "Breitbandausbau" in client.get(f"/api/documents/{own}/text").text
    with web_ctx.db.session() as session:
        actions = set(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.document_id == own, AuditEvent.actor == "clerk402"
                )
            )
        )
    assert {"api_view", "download_pdf", "page_image", "download_text"} <= actions


def test_operator_sees_failed_documents_but_not_routed_letters(
    web_ctx: AppContext, docs: dict[str, str]
):
    client = token_client(web_ctx, "leitstand")
    assert ids(client.get("/api/documents")) == {docs["failed"]}
    assert client.get(f"/api/documents/{docs['402']}").status_code == 403
    assert client.post(f"/api/documents/{docs['failed']}/accept").status_code == 403
    lines = {line["scan_line_id"]: line for line in client.get("/api/scan-lines").json()}
    assert lines["scan-1"]["failed"] == 1


def test_operator_retries_a_failed_document_onto_the_queue(
    web_ctx: AppContext, docs: dict[str, str]
):
    client = token_client(web_ctx, "leitstand")
    before = web_ctx.queue.depth() or 0
    response = client.post(f"/api/documents/{docs['failed']}/retry")
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "queued"
    assert web_ctx.queue.depth() == before + 1
    # A second retry of a queued document is a conflict, not a duplicate message.
    assert client.post(f"/api/documents/{docs['failed']}/retry").status_code in (403, 409)


def test_admin_sees_everything(web_ctx: AppContext, docs: dict[str, str]):
    client = token_client(web_ctx, "admin")
    assert ids(client.get("/api/documents")) == set(docs.values())
    assert {u["username"] for u in client.get("/api/users").json()} >= {"clerk402", "leitstand"}


def test_non_admins_cannot_use_admin_api(web_ctx: AppContext, docs: dict[str, str]):
    for name in ("clerk402", "leitstand"):
        client = token_client(web_ctx, name)
        assert client.get("/api/users").status_code == 403
        assert client.post("/api/models/train").status_code == 403


def test_clerk_reassigns_through_the_api_and_the_label_is_recorded(
    web_ctx: AppContext, docs: dict[str, str]
):
    clerk402 = token_client(web_ctx, "clerk402")
    moved = clerk402.post(f"/api/documents/{docs['402']}/reassign", json={"unit_code": "304.10"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["department_id"] == "304"
    assert clerk402.get(f"/api/documents/{docs['402']}").status_code == 403
    clerk304 = token_client(web_ctx, "clerk304")
    assert docs["402"] in ids(clerk304.get("/api/documents"))
    with web_ctx.db.session() as session:
        label = session.scalars(
            select(RoutingDecision).where(RoutingDecision.document_id == docs["402"])
        ).one()
    assert (label.kind, label.unit_code, label.is_label) == ("reassign", "304.10", True)


def test_requests_without_credentials_get_401(web_ctx: AppContext, docs: dict[str, str]):
    client = TestClient(create_app(web_ctx))
    assert client.get("/api/documents").status_code == 401
    assert (
        client.post("/api/token", json={"username": "admin", "password": "falsch"}).status_code
        == 401
    )
    forged = client.get("/api/documents", headers={"Authorization": "Bearer forged.token"})
    assert forged.status_code == 401
