"""``mailroom retry``: the documents an outage failed for good go back in bulk.

Run as a user runs it (``python -m mailroom``) on an embedded data folder that the test
fills with the document factory.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select, update

from mailroom.infra.db.models import AuditEvent, Document
from mailroom.runtime.context import AppContext
from tests.conftest import make_settings
from tests.factories import make_document
from tests.integration.test_cli import mailroom

OUTAGE = "gave up after 5 attempts: StorageUnavailable: S3 error on 'documents/x': timed out"


def failed(ctx: AppContext, reason: str) -> str:
    doc_id = make_document(ctx, department_id=None, state="failed", reason=reason)
    with ctx.db.session() as session:
        session.execute(update(Document).where(Document.id == doc_id).values(attempts=5))
    return doc_id


def states(ctx: AppContext, ids: list[str]) -> list[tuple[str, int]]:
    with ctx.db.session() as session:
        return [(d.state, d.attempts) for i in ids if (d := session.get(Document, i))]


def test_retry_sends_back_the_failed_documents_whose_reason_matches(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ctx = AppContext.from_settings(make_settings(data))
    try:
        outage = [failed(ctx, OUTAGE) for _ in range(3)]
        crashed = failed(ctx, "tesseract crashed (signal 11)")

        refused = mailroom(data, "retry")
        assert refused.returncode == 2 and "--all" in refused.stderr

        dry = mailroom(
            data, "retry", "--reason-contains", "storageunavailable", "--dry-run", "--json"
        )
        assert dry.returncode == 0, dry.stderr
        assert {f["document_id"] for f in json.loads(dry.stdout)["found"]} == set(outage)
        assert states(ctx, outage) == [("failed", 5)] * 3

        sent = mailroom(data, "retry", "--reason-contains", "StorageUnavailable", "--json")
        assert sent.returncode == 0, sent.stderr
        report = json.loads(sent.stdout)
        assert (sorted(report["queued"]), report["skipped"], report["published"]) == (
            sorted(outage),
            [],
            3,
        )
        assert states(ctx, outage) == [("queued", 0)] * 3
        assert states(ctx, [crashed]) == [("failed", 5)]
        assert ctx.queue.depth() == 3
        with ctx.db.session() as session:
            audited = session.scalars(
                select(AuditEvent.document_id).where(
                    AuditEvent.action == "retry", AuditEvent.actor == "cli"
                )
            ).all()
        assert sorted(map(str, audited)) == sorted(outage)

        rest = mailroom(data, "retry", "--all")
        assert rest.returncode == 0, rest.stderr
        assert "1 Dokumente werden erneut verarbeitet." in rest.stdout
        assert states(ctx, [crashed]) == [("queued", 0)]
    finally:
        ctx.close()
