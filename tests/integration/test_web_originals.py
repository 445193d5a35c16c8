"""Requests for the paper original: from the document page to the Leitstand and back, and
the same through the JSON API, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from mailroom.core.errors import StorageUnavailable
from mailroom.infra.db.models import AuditEvent, Batch, Document
from mailroom.infra.object_stream import ObjectStream
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


# -- downloading the scanned original ------------------------------------------------------

MiB = 1024 * 1024


class CountingReader:
    """Hands the store's chunks on one read at a time, noting each chunk's size."""

    def __init__(self, chunks: Iterator[bytes], sizes: list[int]) -> None:
        self.chunks, self.sizes = chunks, sizes

    def read(self, size: int, /) -> bytes:
        chunk = next(self.chunks, b"")
        assert len(chunk) <= size
        self.sizes.append(len(chunk))
        return chunk


def never(*_args: object) -> bytes:
    raise AssertionError("the original was loaded whole (store.get) or copied (get_file)")


def original_key_of(ctx: AppContext, doc_id: str) -> str:
    with ctx.db.session() as session:
        doc = session.get(Document, doc_id)
        assert doc is not None and doc.original_key is not None
        return doc.original_key


def test_a_large_original_is_streamed_from_the_store_never_held_whole(
    web_ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    doc = make_document(web_ctx, department_id="402", subject="Bauplan in Farbe")
    key = original_key_of(web_ctx, doc)
    scan = tmp_path / "bauplan.pdf"
    scan.write_bytes(b"%PDF-1.7\n" + os.urandom(24 * MiB))
    web_ctx.store.put_file(key, scan, "application/pdf")
    store, opened = web_ctx.store, web_ctx.store.open_stream
    sizes: list[int] = []
    closed: list[str] = []

    def counted(key: str) -> ObjectStream:
        stream = opened(key)

        def release() -> None:
            stream.close()
            closed.append(key)

        return ObjectStream(key, CountingReader(iter(stream), sizes), stream.size, release)

    monkeypatch.setattr(store, "get", never)
    monkeypatch.setattr(store, "get_file", never)
    monkeypatch.setattr(store, "open_stream", counted)
    clerk, _ = browser(web_ctx, "clerk402")

    response = clerk.get(f"/documents/{doc}/file/original")

    assert response.status_code == 200, response.text
    assert response.content == scan.read_bytes()
    assert response.headers["content-length"] == str(scan.stat().st_size)
    assert response.headers["content-type"] == "application/pdf"
    assert (
        response.headers["content-disposition"] == "inline; filename*=UTF-8''bauplan-in-farbe.pdf"
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "private, no-store"
    assert len(sizes) > 24 and max(sizes) <= MiB  # chunk by chunk, never the whole file
    assert closed == [key]  # the file (or the S3 connection) was released
    api = token_client(web_ctx, "clerk402").get(f"/api/documents/{doc}/original")
    assert api.status_code == 200 and api.content == scan.read_bytes()
    with web_ctx.db.session() as session:
        downloads = session.scalars(
            select(AuditEvent.actor).where(
                AuditEvent.document_id == doc, AuditEvent.action == "download_original"
            )
        ).all()
    assert downloads == ["clerk402", "clerk402"]


def test_a_missing_original_is_404_and_an_unavailable_store_503_without_a_download_entry(
    web_ctx: AppContext, monkeypatch: pytest.MonkeyPatch
):
    gone = make_document(web_ctx, department_id="402")
    web_ctx.store.delete(original_key_of(web_ctx, gone))
    away = make_document(web_ctx, department_id="402")
    clerk = token_client(web_ctx, "clerk402")
    other = token_client(web_ctx, "clerk304")

    assert clerk.get(f"/api/documents/{gone}/original").status_code == 404
    assert other.get(f"/api/documents/{away}/original").status_code == 403  # checked first

    def unavailable(key: str) -> ObjectStream:
        raise StorageUnavailable("S3 error: connection refused")

    monkeypatch.setattr(web_ctx.store, "open_stream", unavailable)
    assert clerk.get(f"/api/documents/{away}/original").status_code == 503
    assert clerk.get(f"/documents/{away}/pages/1.jpg").status_code == 503
    with web_ctx.db.session() as session:
        actions = set(
            session.scalars(
                select(AuditEvent.action).where(AuditEvent.document_id.in_([gone, away]))
            )
        )
    assert not actions & {"download_original", "page_image"}
