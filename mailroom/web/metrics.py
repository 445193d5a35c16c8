"""``/metrics`` for Prometheus, computed from the database at scrape time.

The workers run in other processes (or hosts), so in-process counters would only see the
web process. The collector instead reads documents, pages, processing times and routing
decisions from the database on every scrape. The queue depths and whether each service
answers (``mailroom_service_up``) come from the web application's
:class:`~mailroom.services.health.HealthMonitor`, its last round of probes (a few seconds
old): a scrape never waits for a broker or an object store that is down or frozen. While
the monitor finds the database unreachable, the database figures are left out too.

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

from mailroom.core.errors import DatabaseUnavailable
from mailroom.core.states import DocumentState
from mailroom.infra.db.models import Document, RoutingDecision
from mailroom.runtime.context import AppContext
from mailroom.services.health import OK, SERVICES, Health, HealthMonitor

log = logging.getLogger(__name__)

#: Upper bounds (seconds) of the processing-time histogram buckets.
PROCESSING_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class MailroomCollector(Collector):
    """Services up, queue depths, documents by state, pages processed, processing seconds,
    decisions."""

    def __init__(self, ctx: AppContext, health: HealthMonitor) -> None:
        self.ctx = ctx
        self.health = health

    def collect(self) -> Iterator[Metric]:
        seen = self.health.current
        yield services_up(seen)
        yield queue_depths(seen)
        if seen.down("database"):
            return
        try:
            figures = self._from_database()
        except DatabaseUnavailable as exc:  # gone before the monitor noticed
            log.warning("/metrics without the database's figures: %s", exc)
            return
        yield from figures

    def _from_database(self) -> list[Metric]:
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
        count = int(row[len(PROCESSING_BUCKETS)] or 0)
        buckets = [(str(b), float(row[i] or 0)) for i, b in enumerate(PROCESSING_BUCKETS)]
        buckets.append(("+Inf", float(count)))
        kinds = CounterMetricFamily(
            "mailroom_routing_decisions", "Routing decisions by kind", labels=["kind"]
        )
        for kind in ("auto", "review", "accept", "reassign", "attach_case"):
            kinds.add_metric([kind], float(decisions.pop(kind, 0)))
        for kind, n in decisions.items():
            kinds.add_metric([str(kind)], float(n))
        return [
            states,
            CounterMetricFamily(
                "mailroom_pages_processed", "Pages of processed documents", value=float(pages or 0)
            ),
            HistogramMetricFamily(
                "mailroom_processing_seconds",
                "Seconds from claim to stored result per document",
                buckets=buckets,
                sum_value=float(row[len(PROCESSING_BUCKETS) + 1] or 0.0),
            ),
            kinds,
        ]


def services_up(seen: Health) -> GaugeMetricFamily:
    """``mailroom_service_up{service}``: 1 if the service answered the monitor's last probe,
    0 if not; no sample before the first round."""
    up = GaugeMetricFamily(
        "mailroom_service_up",
        "Whether the service answered the last health probe (1) or not (0)",
        labels=["service"],
    )
    for name in SERVICES:
        if name in seen.services:
            up.add_metric([name], 1.0 if seen.services[name] == OK else 0.0)
    return up


def queue_depths(seen: Health) -> GaugeMetricFamily:
    """``mailroom_queue_depth{queue}`` as the monitor last saw it (-1: unknown)."""
    depth = GaugeMetricFamily(
        "mailroom_queue_depth", "Messages waiting in the queue (-1: unknown)", labels=["queue"]
    )
    for name, key in (("documents", "waiting"), ("dead", "dead")):
        value = seen.queue.get(key)
        depth.add_metric([name], float(value if value is not None else -1))
    return depth


def router(ctx: AppContext, health: HealthMonitor) -> APIRouter:
    """The ``/metrics`` route with its own registry (no process-global state); ``health``
    is the application's service monitor, whose last answer the scrape reports."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MailroomCollector(ctx, health))
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
