"""A real S3 outage: the object store process stops while a backlog waits, then returns.

A private ``weed mini`` (not the session's shared S3 server, which other tests use) is
stopped after the documents were registered and started again once the worker has met
the outage several times more often than a document has attempts. Every document then
finishes, and none has used up an attempt on the outage.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailroom.core.states import DocumentState as S
from mailroom.infra.db import models
from mailroom.runtime.context import AppContext
from mailroom.runtime.processor import FINISHED
from mailroom.runtime.registration import register_file
from mailroom.runtime.worker import Worker
from tests import services
from tests.conftest import make_settings
from tests.letters import two_page_letter
from tests.unit.test_consumer import LetterReader

PATIENCE_SECONDS = 120.0


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[services.S3Server]:
    server = services.S3Server(tmp_path / "s3")
    server.start()
    yield server
    server.stop()


def outage_waits(ctx: AppContext) -> int:
    """How often documents went to ``retry_wait`` because the object store was away."""
    with ctx.db.session() as session:
        count = session.scalar(
            select(func.count())
            .select_from(models.AuditEvent)
            .where(models.AuditEvent.to_state == S.RETRY_WAIT)
        )
    return int(count or 0)


def documents(ctx: AppContext, ids: list[str]) -> list[models.Document]:
    with ctx.db.session() as session:
        return [d for i in ids if (d := session.get(models.Document, i)) is not None]


def poll(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {PATIENCE_SECONDS} s"
        time.sleep(0.3)


def test_documents_waiting_out_a_real_s3_outage_keep_their_attempts(
    tmp_path: Path, s3: services.S3Server
) -> None:
    settings = make_settings(
        tmp_path / "data",
        broker_url="memory://",
        queue_name=f"mailroom.test.{uuid.uuid4().hex[:10]}",
        sweep_interval_seconds=0.3,
        max_attempts=2,
        service_backoff_max_seconds=1.0,
        s3_endpoint=s3.endpoint,
        s3_access_key=services.S3_ACCESS_KEY,
        s3_secret_key=services.S3_SECRET_KEY,
        s3_bucket="outage",
    )
    ctx = AppContext.from_settings(settings, migrate=True)
    ctx.ocr = LetterReader()
    stop = threading.Event()
    worker = threading.Thread(target=Worker(ctx, name="w1").run, args=(stop,), daemon=True)
    try:
        ids = []
        for seed in range(2):
            letter = two_page_letter(tmp_path / f"brief-{seed}.tif", seed=seed)
            doc = register_file(ctx, ctx.scan_lines[0], letter, move=False)
            assert doc is not None and doc.state == S.QUEUED
            ids.append(doc.id)
        s3.stop()
        worker.start()
        poll(lambda: outage_waits(ctx) >= 3 * settings.max_attempts, "waiting out the outage")
        s3.start()
        poll(lambda: all(d.state in FINISHED for d in documents(ctx, ids)), "finishing")
    finally:
        stop.set()
        worker.join(30)
        ctx.close()
    docs = documents(ctx, ids)
    assert all(d.state in (S.ROUTED, S.REVIEW) for d in docs), [d.state_reason for d in docs]
    assert [d.attempts for d in docs] == [1, 1]
