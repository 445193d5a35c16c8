"""/metrics from the database at scrape time, and the Leitstand statistics behind the pages."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mailroom.infra.db.models import Document, RoutingDecision
from mailroom.infra.queue import DocumentMessage
from mailroom.runtime.context import AppContext
from mailroom.services import stats
from mailroom.web.app import create_app
from tests.factories import make_document


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_count_documents_pages_decisions_and_queue(ctx: AppContext):
    make_document(ctx, department_id="402", page_count=3)
    make_document(ctx, department_id="304", state="review", page_count=2)
    make_document(ctx, department_id=None, state="failed", reason="kaputt")
    with ctx.db.session() as session:
        doc = session.query(Document).filter_by(state="routed").one()
        session.add(RoutingDecision(document_id=doc.id, kind="auto", actor="worker"))
    ctx.queue.publish(DocumentMessage(doc.id))
    response = TestClient(create_app(ctx)).get("/metrics")
    assert response.status_code == 200
    values = samples(response.text)
    assert values[("mailroom_documents", (("state", "routed"),))] == 1
    assert values[("mailroom_documents", (("state", "failed"),))] == 1
    assert values[("mailroom_pages_processed_total", ())] == 5
    assert values[("mailroom_processing_seconds_count", ())] == 2
    assert values[("mailroom_processing_seconds_bucket", (("le", "5.0"),))] == 2
    assert values[("mailroom_processing_seconds_bucket", (("le", "1.0"),))] == 0
    assert values[("mailroom_routing_decisions_total", (("kind", "auto"),))] == 1
    assert values[("mailroom_queue_depth", (("queue", "documents"),))] == 1


def test_scan_line_overview_counts_per_line(ctx: AppContext):
    now = datetime.now(UTC)
    make_document(ctx, department_id=None, state="queued", received_at=now - timedelta(minutes=42))
    make_document(ctx, department_id=None, state="received", received_at=now - timedelta(minutes=5))
    make_document(ctx, department_id=None, state="processing", scan_line_id="scan-2")
    make_document(ctx, department_id="402", processed_at=now - timedelta(minutes=1))
    make_document(ctx, department_id=None, state="failed", reason="x", scan_line_id="scan-2")
    with ctx.db.session() as session:
        lines = {s.scan_line_id: s for s in stats.scan_line_overview(session, now=now)}
    one, two = lines["scan-1"], lines["scan-2"]
    assert (one.waiting, one.in_progress, one.done_today, one.failed) == (2, 0, 1, 0)
    assert one.oldest_waiting is not None
    assert abs(one.oldest_waiting.total_seconds() - 42 * 60) < 5
    assert (two.waiting, two.in_progress, two.failed, two.oldest_waiting) == (0, 1, 1, None)


def test_throughput_buckets_pages_per_minute(ctx: AppContext):
    now = datetime.now(UTC)
    make_document(ctx, page_count=20, processed_at=now - timedelta(minutes=3))
    make_document(ctx, page_count=10, processed_at=now - timedelta(hours=2))
    make_document(ctx, page_count=99, processed_at=now - timedelta(hours=8))  # outside
    with ctx.db.session() as session:
        buckets = stats.throughput(session, hours=6, bucket_minutes=10, now=now)
    assert len(buckets) == 36
    assert sum(b.pages for b in buckets) == 30
    recent = now - timedelta(minutes=3)
    [bucket] = [b for b in buckets if b.start <= recent < b.start + timedelta(minutes=10)]
    assert bucket.pages == 20 and bucket.pages_per_minute == 2.0
    assert buckets[-1].start <= now < buckets[-1].start + timedelta(minutes=10)
    assert all(a.start < b.start for a, b in itertools.pairwise(buckets))


def test_openapi_describes_the_document_api(ctx: AppContext):
    spec = TestClient(create_app(ctx)).get("/openapi.json").json()
    assert "/api/documents" in spec["paths"]
    assert "/api/documents/{document_id}/reassign" in spec["paths"]
    assert not any(p.startswith("/verwaltung") for p in spec["paths"])


def test_metrics_token_when_set_is_required(tmp_path):
    from config.settings import Settings
    from tests.conftest import make_settings

    description = Settings.model_fields["metrics_token"].description or ""
    assert "Production should set it" in description
    ctx = AppContext.from_settings(make_settings(tmp_path / "data", metrics_token="geheim-123"))
    try:
        client = TestClient(create_app(ctx))
        missing = client.get("/metrics")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith("Bearer")
        assert client.get("/metrics", headers={"Authorization": "Bearer falsch"}).status_code == 401
        assert (
            client.get("/metrics", headers={"Authorization": "Basic geheim-123"}).status_code == 401
        )
        ok = client.get("/metrics", headers={"Authorization": "Bearer geheim-123"})
        assert ok.status_code == 200 and "mailroom_documents" in ok.text
    finally:
        ctx.close()


def test_metrics_stay_open_without_a_token(ctx: AppContext):
    assert ctx.settings.metrics_token is None
    assert TestClient(create_app(ctx)).get("/metrics").status_code == 200
