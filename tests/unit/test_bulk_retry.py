"""Sending many failed documents back at once: the Leitstand's *Alle erneut verarbeiten*.

The documents an outage failed for good (before outages stopped costing attempts) are
found by their reason and go back to the queue with fresh attempts, each resend audited;
the other failures stay as they are. The command line's ``mailroom retry`` does the same
(tests/integration/test_cli_retry.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from mailroom.infra.db.models import AuditEvent, Document
from mailroom.runtime.context import AppContext
from mailroom.web.app import create_app
from tests.factories import make_document
from tests.web_helpers import login, seed_users

OUTAGE = "gave up after 5 attempts: StorageUnavailable: S3 error on 'documents/x': timed out"


@pytest.fixture
def app_ctx(ctx: AppContext) -> AppContext:
    seed_users(ctx)
    return ctx


@pytest.fixture
def client(app_ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(app_ctx)) as c:
        yield c


def failed(ctx: AppContext, reason: str, state: str = "failed") -> str:
    """A document that used up its attempts."""
    doc_id = make_document(ctx, department_id=None, state=state, reason=reason)
    with ctx.db.session() as session:
        session.execute(update(Document).where(Document.id == doc_id).values(attempts=5))
    return doc_id


def row(ctx: AppContext, doc_id: str) -> tuple[str, int]:
    with ctx.db.session() as session:
        doc = session.get(Document, doc_id)
        assert doc is not None
        return doc.state, doc.attempts


def retries(ctx: AppContext) -> list[tuple[str | None, str, dict[str, object] | None]]:
    with ctx.db.session() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "retry"))
        return [(e.document_id, e.actor, e.detail) for e in events]


def test_alle_erneut_verarbeiten_sends_the_outage_failures_back_and_audits_each(
    client: TestClient, app_ctx: AppContext
) -> None:
    outage = [failed(app_ctx, OUTAGE) for _ in range(3)]
    crashed = failed(app_ctx, "tesseract crashed (signal 11)")
    quarantined = failed(app_ctx, "StorageUnavailable beim Einlesen", state="quarantined")
    csrf = login(client, "leitstand")
    assert "Alle erneut verarbeiten" in client.get("/leitstand").text

    response = client.post(
        "/leitstand/erneut",
        data={"csrf_token": csrf, "state": "failed", "reason_contains": "storageunavailable"},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert "3 Dokumente werden erneut verarbeitet." in client.get("/leitstand").text
    assert [row(app_ctx, i) for i in outage] == [("queued", 0)] * 3
    assert row(app_ctx, crashed) == ("failed", 5)
    assert row(app_ctx, quarantined) == ("quarantined", 5)
    assert sorted(retries(app_ctx)) == sorted((i, "leitstand", {"bulk": True}) for i in outage)
    assert app_ctx.queue.depth() == 3


def test_without_a_reason_every_document_in_the_state_is_sent(
    client: TestClient, app_ctx: AppContext
) -> None:
    docs = [failed(app_ctx, OUTAGE), failed(app_ctx, "tesseract crashed")]
    csrf = login(client, "leitstand")

    client.post("/leitstand/erneut", data={"csrf_token": csrf, "state": "failed"})

    assert [row(app_ctx, i)[0] for i in docs] == ["queued", "queued"]
    assert app_ctx.queue.depth() == 2


def test_a_clerk_may_not_send_documents_back(client: TestClient, app_ctx: AppContext) -> None:
    doc_id = failed(app_ctx, OUTAGE)
    csrf = login(client, "clerk402")

    response = client.post("/leitstand/erneut", data={"csrf_token": csrf, "state": "failed"})

    assert response.status_code == 403
    assert row(app_ctx, doc_id) == ("failed", 5) and retries(app_ctx) == []
