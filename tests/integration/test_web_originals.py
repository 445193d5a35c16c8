"""Requests for the paper original: from the document page to the Leitstand and back, and
the same through the JSON API, on SQLite and on PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from mailroom.infra.db.models import AuditEvent, Batch, Document
from mailroom.runtime.context import AppContext
from mailroom.web.app import create_app
from tests.factories import make_document
from tests.web_helpers import login, token_client


def browser(ctx: AppContext, username: str) -> tuple[TestClient, str]:
    client = TestClient(create_app(ctx))
    return client, login(client, username)


def in_batch(ctx: AppContext, doc_id: str, name: str) -> None:
    with ctx.db.session() as session:
        batch = Batch(scan_line_id="scan-1", name=name)
        session.add(batch)
        session.flush()
        doc = session.get(Document, doc_id)
        assert doc is not None
        doc.batch_id = batch.id


def test_clerk_request_reaches_the_leitstand_and_the_answer_comes_back(web_ctx: AppContext):
    doc = make_document(web_ctx, department_id="402", subject="Bauantrag mit Unterschrift")
    in_batch(web_ctx, doc, "Stapel 2026-11-27 Nr. 14")
    clerk, clerk_csrf = browser(web_ctx, "clerk402")
    asked = clerk.post(
        f"/documents/{doc}/request-original",
        data={"reason": "Unterschrift im Original prüfen", "csrf_token": clerk_csrf},
    )
    assert asked.status_code == 200
    page = clerk.get(f"/documents/{doc}").text
    assert 'data-status="open"' in page and "Angefordert" in page
    assert 'id="request-original"' not in page  # one open request at a time

    operator, operator_csrf = browser(web_ctx, "leitstand")
    leitstand = operator.get("/leitstand").text
    section = leitstand[leitstand.index('id="original-requests"') :]
    for expected in (
        "Scanstraße 1",
        "Stapel 2026-11-27 Nr. 14",
        "bauantrag-mit-unterschrift.pdf",
        "clerk402",
        "402 ",
        "Unterschrift im Original prüfen",
    ):
        assert expected in section, expected
    assert "Bauantrag mit Unterschrift" not in section  # no letter content for operators
    assert "Unterschrift im Original prüfen" in operator.get("/leitstand/live").text

    with web_ctx.db.session() as session:
        request_id = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "request_original")
        ).one()["request_id"]
    refused = operator.post(
        f"/leitstand/originale/{request_id}",
        data={"outcome": "destroyed", "note": "", "csrf_token": operator_csrf},
    )
    assert "vermerken" in refused.text  # destroyed needs a note; nothing changed
    done = operator.post(
        f"/leitstand/originale/{request_id}",
        data={
            "outcome": "destroyed",
            "note": "Vernichtet am 15.11. nach Ablauf der Aufbewahrungsfrist",
            "csrf_token": operator_csrf,
        },
    )
    assert done.status_code == 200
    assert "als nicht mehr vorhanden vermerkt" in done.text
    assert f'data-request="{request_id}"' not in done.text
    assert "Keine offenen Anforderungen" in done.text

    page = clerk.get(f"/documents/{doc}").text
    assert 'data-status="destroyed"' in page and "Nicht mehr vorhanden" in page
    assert "Vernichtet am 15.11." in page and "leitstand" in page
    assert 'id="request-original"' in page  # may be asked for again
    with web_ctx.db.session() as session:
        trail = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.document_id == doc)
                .where(AuditEvent.action.in_(["request_original", "original_destroyed"]))
                .order_by(AuditEvent.id)
            )
        )
    assert trail == ["request_original", "original_destroyed"]


def test_marking_needs_the_csrf_token_and_the_scan_centre(web_ctx: AppContext):
    doc = make_document(web_ctx, department_id="402")
    clerk, clerk_csrf = browser(web_ctx, "clerk402")
    clerk.post(f"/documents/{doc}/request-original", data={"csrf_token": clerk_csrf})
    assert clerk.post("/leitstand/originale/1", data={"outcome": "provided"}).status_code == 403
    forged = clerk.post(
        "/leitstand/originale/1", data={"outcome": "provided", "csrf_token": clerk_csrf}
    )
    assert forged.status_code == 403  # clerks may not open the Leitstand
    operator, _ = browser(web_ctx, "leitstand")
    no_token = operator.post("/leitstand/originale/1", data={"outcome": "provided"})
    assert no_token.status_code == 403
    assert 'data-status="open"' in clerk.get(f"/documents/{doc}").text


def test_original_requests_through_the_api_for_every_role(web_ctx: AppContext):
    own = make_document(web_ctx, department_id="402", subject="Breitband")
    fire = make_document(web_ctx, department_id="304", subject="Brandschau")
    clerk402 = token_client(web_ctx, "clerk402")
    clerk304 = token_client(web_ctx, "clerk304")
    asked = clerk402.post(f"/api/documents/{own}/request-original", json={"reason": "Prüfung"})
    assert asked.status_code == 200, asked.text
    assert clerk304.post(f"/api/documents/{fire}/request-original", json={}).status_code == 200
    again = clerk304.post(f"/api/documents/{fire}/request-original", json={})
    assert again.status_code == 409

    [mine] = clerk402.get("/api/original-requests").json()
    assert (mine["document_id"], mine["department_id"], mine["status"]) == (own, "402", "open")
    assert (mine["requested_by"], mine["reason"], mine["scan_line_id"]) == (
        "clerk402",
        "Prüfung",
        "scan-1",
    )
    assert [r["document_id"] for r in clerk304.get("/api/original-requests").json()] == [fire]
    operator = token_client(web_ctx, "leitstand")
    listed = operator.get("/api/original-requests", params={"status": "open"}).json()
    assert {r["document_id"] for r in listed} == {own, fire}
    assert token_client(web_ctx, "admin").get("/api/original-requests").status_code == 200
    bad = operator.get("/api/original-requests", params={"status": "verloren"})
    assert bad.status_code == 422

    request_id = mine["id"]
    assert (
        clerk402.post(f"/api/original-requests/{request_id}/provided", json={}).status_code == 403
    )
    no_note = operator.post(f"/api/original-requests/{request_id}/destroyed", json={})
    assert no_note.status_code == 422
    provided = operator.post(
        f"/api/original-requests/{request_id}/provided", json={"note": "Hauspost"}
    )
    assert provided.status_code == 200, provided.text
    body = provided.json()
    assert (body["status"], body["handled_by"], body["note"]) == (
        "provided",
        "leitstand",
        "Hauspost",
    )
    twice = operator.post(f"/api/original-requests/{request_id}/destroyed", json={"note": "x"})
    assert twice.status_code == 409
    assert operator.post("/api/original-requests/999999/provided", json={}).status_code == 404
    [seen] = clerk402.get("/api/original-requests", params={"document_id": own}).json()
    assert seen["status"] == "provided" and seen["handled_at"] is not None
    open_now = operator.get("/api/original-requests", params={"status": "open"}).json()
    assert [r["document_id"] for r in open_now] == [fire]
