"""``/metrics`` for Prometheus, computed from the database at scrape time.

The workers run in other processes (or hosts), so in-process counters would only see the
web process. The collector instead reads documents, pages, processing times and routing
decisions from the database, and the queue depth from the broker, on every scrape.

With ``MAILROOM_METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <token>``;
without it the figures are open to anyone who reaches the web port (development).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from mailroom.core.states import DocumentState
from mailroom.infra.db.models import Document, RoutingDecision
from mailroom.runtime.context import AppContext

log = logging.getLogger(__name__)

#: Upper bounds (seconds) of the processing-time histogram buckets.
PROCESSING_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class MailroomCollector(Collector):
    """Documents by state, pages processed, processing seconds, queue depth, decisions."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        with self.ctx.db.session() as session:
            by_state = dict(
                session.execute(select(Document.state, func.count()).group_by(Document.state)).all()
            )
            pages = session.scalar(
                select(func.coalesce(func.sum(Document.page_count), 0)).where(
                    Document.processed_at.is_not(None)
                )
            )
            seconds = Document.processing_seconds
            row = session.execute(
                select(
                    *[func.sum(case((seconds <= b, 1), else_=0)) for b in PROCESSING_BUCKETS],
                    func.count(seconds),
                    func.coalesce(func.sum(seconds), 0.0),
                ).where(seconds.is_not(None))
            ).one()
            decisions = dict(
                session.execute(
                    select(RoutingDecision.kind, func.count()).group_by(RoutingDecision.kind)
                ).all()
            )
        states = GaugeMetricFamily("mailroom_documents", "Documents by state", labels=["state"])
        for state in DocumentState:
            states.add_metric([state.value], float(by_state.get(state.value, 0)))
        yield states
        yield CounterMetricFamily(
            "mailroom_pages_processed", "Pages of processed documents", value=float(pages or 0)
        )
        count = int(row[len(PROCESSING_BUCKETS)] or 0)
        buckets = [(str(b), float(row[i] or 0)) for i, b in enumerate(PROCESSING_BUCKETS)]
        buckets.append(("+Inf", float(count)))
        yield HistogramMetricFamily(
            "mailroom_processing_seconds",
            "Seconds from claim to stored result per document",
            buckets=buckets,
            sum_value=float(row[len(PROCESSING_BUCKETS) + 1] or 0.0),
        )
        depth = GaugeMetricFamily(
            "mailroom_queue_depth", "Messages waiting in the queue (-1: unknown)", labels=["queue"]
        )
        for name, dead in (("documents", False), ("dead", True)):
            value = self.ctx.queue.depth(dead=dead)
            depth.add_metric([name], float(value if value is not None else -1))
        yield depth
        kinds = CounterMetricFamily(
            "mailroom_routing_decisions", "Routing decisions by kind", labels=["kind"]
        )
        for kind in ("auto", "review", "accept", "reassign", "attach_case"):
            kinds.add_metric([kind], float(decisions.pop(kind, 0)))
        for kind, n in decisions.items():
            kinds.add_metric([str(kind)], float(n))
        yield kinds


def router(ctx: AppContext) -> APIRouter:
    """The ``/metrics`` route with its own registry (no process-global state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MailroomCollector(ctx))
    api = APIRouter(include_in_schema=False)
    token = ctx.settings.metrics_token.get_secret_value() if ctx.settings.metrics_token else ""
    expected = token.strip().encode() or None  # an empty value means unset
    if expected is None and ctx.settings.environment == "production":
        log.warning("MAILROOM_METRICS_TOKEN is not set: /metrics is open to every client")

    @api.get("/metrics")
    def metrics(request: Request) -> Response:
        if expected is not None and not _bearer_matches(request, expected):
            return Response(
                "Bearer-Token für /metrics fehlt oder ist falsch (MAILROOM_METRICS_TOKEN).\n",
                status_code=401,
                media_type="text/plain; charset=utf-8",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return api


def _bearer_matches(request: Request, expected: bytes) -> bool:
    """Constant-time comparison of the request's bearer token with ``expected``."""
    scheme, _, sent = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return secrets.compare_digest(sent.strip().encode(), expected)
