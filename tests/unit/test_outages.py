"""Outages of the object store, the database and the broker cost documents no attempts, and
the intake publishes what waited for the broker as soon as it is back.

Embedded services (SQLite, the filesystem store, kombu's in-memory transport); the faults
come through the product's own interfaces: an object store and a database that are away
for a while, a document queue whose broker refuses to publish.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.watcher import ScanLineWatcher
from mailroom.core.domain import PageOcr, PreparedPage
from mailroom.core.errors import BrokerUnavailable, DatabaseUnavailable, StorageUnavailable
from mailroom.core.states import DocumentState as S
from mailroom.infra.db import models
from mailroom.infra.db.database import Database
from mailroom.infra.db.models import utcnow
from mailroom.infra.objects import ObjectStore
from mailroom.infra.queue import DocumentMessage, DocumentQueue
from mailroom.runtime.context import AppContext
from mailroom.runtime.processor import FINISHED, DocumentProcessor, Outcome
from mailroom.runtime.registration import register_file
from mailroom.runtime.watchers import watcher as watcher_of
from mailroom.runtime.worker import Worker
from tests.conftest import make_settings
from tests.letters import two_page_letter
from tests.unit.test_consumer import LetterReader, dead_letters

#: A test that waits longer than this for its documents has failed.
PATIENCE_SECONDS = 120.0


class StoreAway:
    """The real object store behind an outage: its first ``calls`` calls raise."""

    def __init__(self, inner: ObjectStore, calls: int) -> None:
        self.inner = inner
        self.left = calls
        self.raised = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                if self.left > 0:
                    self.left -= 1
                    self.raised += 1
                    raise StorageUnavailable(f"S3 error on {name}: connection refused (injected)")
            return method(*args, **kwargs)

        return call


class DatabaseAway(Database):
    """The database, refusing every session while ``away`` is set."""

    away = False

    @contextmanager
    def session(self) -> Iterator[Session]:
        if self.away:
            raise DatabaseUnavailable("database error: connection refused (injected)")
        with super().session() as session:
            yield session


class ReaderLosingTheDatabase(LetterReader):
    """Reads the letter; while it reads the last page of the first run, the database goes."""

    def __init__(self, db: DatabaseAway) -> None:
        self.db = db
        self.runs = 0

    def recognize(self, page: PreparedPage) -> PageOcr:
        if page.number == 2:
            self.runs += 1
            self.db.away = self.runs == 1
        return super().recognize(page)


class BrokerAway(DocumentQueue):
    """The document queue while its broker refuses every publish (``down``)."""

    down = True

    def publish(self, message: DocumentMessage, conn: Any = None) -> None:
        if self.down:
            raise BrokerUnavailable("broker down (injected)")
        super().publish(message, conn)


@pytest.fixture
def mem_ctx(tmp_path: Path) -> Iterator[AppContext]:
    """Embedded, on kombu's memory transport, with two attempts and short outage waits."""
    settings = make_settings(
        tmp_path / "data",
        broker_url="memory://",
        queue_name=f"mailroom.test.{uuid.uuid4().hex[:10]}",
        sweep_interval_seconds=0.3,
        max_attempts=2,
        service_backoff_max_seconds=0.5,
    )
    ctx = AppContext.from_settings(settings, migrate=True)
    ctx.ocr = LetterReader()
    yield ctx
    ctx.close()


def register_letters(ctx: AppContext, folder: Path, count: int, *, publish: bool) -> list[str]:
    ids = []
    for seed in range(count):
        path = two_page_letter(folder / f"brief-{seed}.tif", seed=seed)
        doc = register_file(ctx, ctx.scan_lines[0], path, move=False, publish=publish)
        assert doc is not None
        ids.append(doc.id)
    return ids


def rows(db: Database, ids: list[str]) -> list[models.Document]:
    with db.session() as session:
        return [d for i in ids if (d := session.get(models.Document, i)) is not None]


def trail(ctx: AppContext, doc_id: str) -> list[models.AuditEvent]:
    """The document's state changes, oldest first."""
    with ctx.db.session() as session:
        return list(
            session.scalars(
                select(models.AuditEvent)
                .where(models.AuditEvent.document_id == doc_id, models.AuditEvent.action == "state")
                .order_by(models.AuditEvent.id)
            )
        )


def run_until_finished(worker: Worker, ctx: AppContext, ids: list[str]) -> None:
    """Run the worker in a thread until every document is finished (or fail after a while)."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE_SECONDS
    try:
        while time.monotonic() < deadline:
            if all(d.state in FINISHED for d in rows(ctx.db, ids)):
                return
            time.sleep(0.2)
        states = [d.state for d in rows(ctx.db, ids)]
        raise AssertionError(f"not finished after {PATIENCE_SECONDS} s: {states}")
    finally:
        stop.set()
        thread.join(30)


# -- the object store -------------------------------------------------------------------


def test_a_long_storage_outage_costs_no_attempts_and_every_document_finishes(
    mem_ctx: AppContext, tmp_path: Path
) -> None:
    ids = register_letters(mem_ctx, tmp_path, 3, publish=True)
    outage = StoreAway(mem_ctx.store, calls=12)  # six times the two attempts there are
    mem_ctx.store = outage

    run_until_finished(Worker(mem_ctx, name="w1"), mem_ctx, ids)

    assert outage.raised == 12
    docs = rows(mem_ctx.db, ids)
    assert all(d.state in (S.ROUTED, S.REVIEW) for d in docs), [d.state_reason for d in docs]
    assert [d.attempts for d in docs] == [1, 1, 1]  # only the claim that succeeded counts
    waits = [e for doc_id in ids for e in trail(mem_ctx, doc_id) if e.to_state == S.RETRY_WAIT]
    assert len(waits) == 12
    assert all((e.detail or {}).get("reason", "").startswith("StorageUnavailable") for e in waits)
    assert dead_letters(mem_ctx) == []


def test_an_outage_retry_gives_the_attempt_back_and_waits_at_most_the_service_cap(
    mem_ctx: AppContext, tmp_path: Path
) -> None:
    (doc_id,) = register_letters(mem_ctx, tmp_path, 1, publish=False)
    mem_ctx.store = StoreAway(mem_ctx.store, calls=1_000)
    processor = DocumentProcessor(mem_ctx, "w1")
    cap = timedelta(seconds=mem_ctx.settings.service_backoff_max_seconds)

    for _ in range(3 * mem_ctx.settings.max_attempts):
        report = processor.handle(doc_id)
        failed_by = utcnow()
        assert report.outcome is Outcome.RETRY
        (doc,) = rows(mem_ctx.db, [doc_id])
        assert (doc.state, doc.attempts) == (S.RETRY_WAIT, 0)
        assert doc.next_attempt_at is not None and doc.next_attempt_at <= failed_by + cap


def test_a_database_outage_while_recording_costs_no_attempt(
    mem_ctx: AppContext, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    (doc_id,) = register_letters(mem_ctx, tmp_path, 1, publish=False)
    db = DatabaseAway(mem_ctx.settings.db_url)
    mem_ctx.db.dispose()
    mem_ctx.db = db
    mem_ctx.ocr = ReaderLosingTheDatabase(db)
    mem_ctx.settings.lease_seconds = 10  # the worker offers its outcome for this long
    processor = DocumentProcessor(mem_ctx, "w1")
    peek = Database(mem_ctx.settings.db_url)  # the test's own look, past the outage
    request.addfinalizer(peek.dispose)

    # The outcome cannot be recorded within the lease: the worker would requeue ...
    with pytest.raises(DatabaseUnavailable):
        processor.handle(doc_id)
    (doc,) = rows(peek, [doc_id])
    assert (doc.state, doc.attempts) == (S.PROCESSING, 1)  # the claim had committed

    # ... and when the database is back, the redelivered message finds the attempt given back.
    db.away = False
    assert processor.handle(doc_id).outcome is Outcome.DONE
    (doc,) = rows(db, [doc_id])
    assert doc.state in (S.ROUTED, S.REVIEW) and doc.attempts == 1


def test_a_short_database_outage_while_recording_is_waited_out_by_the_worker(
    mem_ctx: AppContext, tmp_path: Path
) -> None:
    """The work is done; the database is back within the lease: the worker records the
    outcome itself, before the sweeper could hand the document to another worker."""
    (doc_id,) = register_letters(mem_ctx, tmp_path, 1, publish=False)
    db = DatabaseAway(mem_ctx.settings.db_url)
    mem_ctx.db.dispose()
    mem_ctx.db = db
    mem_ctx.ocr = ReaderLosingTheDatabase(db)
    back = threading.Timer(3.0, lambda: setattr(db, "away", False))
    back.start()
    try:
        report = DocumentProcessor(mem_ctx, "w1").handle(doc_id)
    finally:
        back.cancel()
    # Recorded once the database answered: the result, or (if the pipeline itself needed
    # the database after the OCR) a wait for the next try with the attempt given back.
    (doc,) = rows(db, [doc_id])
    if report.outcome is Outcome.DONE:
        assert doc.state in (S.ROUTED, S.REVIEW) and doc.attempts == 1
    else:
        assert report.outcome is Outcome.RETRY and "DatabaseUnavailable" in (report.reason or "")
        assert doc.state == S.RETRY_WAIT and doc.attempts == 0


# -- the broker -------------------------------------------------------------------------


def test_the_watcher_publishes_its_backlog_as_soon_as_the_broker_is_back(
    mem_ctx: AppContext, tmp_path: Path
) -> None:
    queue = BrokerAway(mem_ctx.settings)
    mem_ctx.queue = queue
    line = mem_ctx.scan_lines[0]
    line.hot_folder.mkdir(parents=True, exist_ok=True)
    for seed in range(3):
        path = two_page_letter(line.hot_folder / f"brief-{seed}.tif", seed=seed)
        old = time.time() - 60 + seed  # complete long ago: all taken on the first pass
        os.utime(path, (old, old))
    watcher = watcher_of(mem_ctx, line, observe=False)

    taken = watcher.scan_once()
    assert [r.outcome for r in taken] == ["received"] * 3
    ids = [r.document_id for r in taken if r.document_id]

    # Still down when the backoff runs out: the backlog stays, the backoff grows.
    _wait_out_backoff(watcher)
    failures = watcher.broker.failures
    assert watcher.scan_once() == []
    assert watcher.broker.failures == failures + 1
    assert [d.state for d in rows(mem_ctx.db, ids)] == [S.RECEIVED] * 3

    # Back: the first pass after the backoff publishes all of them.
    queue.down = False
    _wait_out_backoff(watcher)
    watcher.scan_once()
    assert [d.state for d in rows(mem_ctx.db, ids)] == [S.QUEUED] * 3
    assert mem_ctx.queue.depth() == 3 and watcher.broker.failures == 0
    queued_by = {e.actor for i in ids for e in trail(mem_ctx, i) if e.to_state == S.QUEUED}
    assert queued_by == {f"intake:{line.id}"}  # the watcher, not the sweeper


def _wait_out_backoff(watcher: ScanLineWatcher) -> None:
    """Poll until the watcher's broker backoff has run out (it is well under a second)."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while watcher.broker.active:
        assert time.monotonic() < deadline, "the broker backoff did not run out"
        time.sleep(0.05)
