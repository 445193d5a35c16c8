"""/metrics from the database at scrape time and the service monitor's last answer, and
the Leitstand statistics behind the pages."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from mailroom.core.errors import DatabaseUnavailable
from mailroom.infra.db.models import Document, RoutingDecision
from mailroom.infra.queue import DocumentMessage
from mailroom.runtime.context import AppContext
from mailroom.services import stats
from mailroom.services.health import HealthMonitor, Probes
from mailroom.web.app import create_app
from tests.conftest import make_settings
from tests.factories import make_document
from tests.services import free_port
from tests.unit.test_health import answers

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
#: How long one scrape may take while a service is down or frozen (it never asks one; the
#: broker alone used to cost 2 x 10 s of connect timeout).
SCRAPE_SECONDS = 5.0
#: How long a test waits for the monitor to notice (it asks every few seconds).
NOTICE_SECONDS = 30.0


def samples(text: str) -> Samples:
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
    app = create_app(ctx)
    app.state.health.check()  # what the monitor asks every few seconds while the app runs
    response = TestClient(app).get("/metrics")
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


def up(service: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("mailroom_service_up", (("service", service),))


def scrape(client: TestClient) -> Samples:
    started = time.monotonic()
    response = client.get("/metrics")
    assert time.monotonic() - started < SCRAPE_SECONDS, "/metrics waited for a service"
    assert response.status_code == 200, response.text
    return samples(response.text)


def scrape_until(client: TestClient, seen: Callable[[Samples], bool]) -> Samples:
    deadline = time.monotonic() + NOTICE_SECONDS
    while not seen(values := scrape(client)):
        assert time.monotonic() < deadline, f"not seen in time: {values}"
        time.sleep(0.1)
    return values


@pytest.fixture
def frozen_broker() -> Iterator[str]:
    """A broker that accepts connections and never says a word (a stopped process)."""
    with socket.create_server(("127.0.0.1", 0)) as server:  # listens, never accepts
        yield f"amqp://guest:guest@127.0.0.1:{server.getsockname()[1]}//"


@pytest.mark.parametrize("broker", ["closed", "frozen"])
def test_metrics_answer_at_once_with_the_broker_dead_or_frozen_and_say_it_is_down(
    tmp_path: Path, broker: str, request: pytest.FixtureRequest
):
    url = (
        f"amqp://guest:guest@127.0.0.1:{free_port()}//"
        if broker == "closed"
        else request.getfixturevalue("frozen_broker")
    )
    ctx = AppContext.from_settings(make_settings(tmp_path / "data", broker_url=url), migrate=True)
    try:
        make_document(ctx, department_id="402", page_count=2)
        with TestClient(create_app(ctx)) as client:  # the lifespan runs the app's monitor
            first = scrape(client)  # while the first probe of the broker still waits
            values = scrape_until(client, lambda v: v.get(up("broker")) == 0)
        assert first[("mailroom_documents", (("state", "routed"),))] == 1
        assert values[up("database")] == 1 and values[up("object_store")] == 1
        assert values[("mailroom_queue_depth", (("queue", "documents"),))] == -1
        assert values[("mailroom_pages_processed_total", ())] == 2
    finally:
        ctx.close()


def test_with_the_database_down_metrics_still_say_which_service_is_up(ctx: AppContext):
    def refused() -> bool:
        raise DatabaseUnavailable("connection refused")

    monitor = HealthMonitor(Probes(refused, lambda: {"waiting": 4, "dead": 0}, answers))
    client = TestClient(create_app(ctx, health=monitor))
    assert up("broker") not in scrape(client)  # nothing known before the first round

    monitor.check()
    values = scrape(client)

    assert values[up("database")] == 0 and values[up("broker")] == 1
    assert values[("mailroom_queue_depth", (("queue", "documents"),))] == 4
    assert not any(name == "mailroom_documents" for name, _labels in values)
