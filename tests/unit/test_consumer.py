"""The worker's queue consumer, message by message, on kombu's in-memory transport.

In the style of dramatiq's StubBroker tests: a real :class:`Worker` (kombu's
``ConsumerMixin``) consumes from ``memory://`` with the embedded SQLite database and the
filesystem object store, with its sweeper thread beside it. Only the OCR engine is a fake,
set on the application context where the worker would find Tesseract.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Producer

from mailroom.core.domain import Box, PageOcr, PreparedPage, Word
from mailroom.core.errors import DatabaseUnavailable, OcrError, OcrTimeout
from mailroom.core.states import DocumentState as S
from mailroom.infra.db import models
from mailroom.runtime.context import AppContext
from mailroom.runtime.processor import DocumentProcessor, Outcome, Report
from mailroom.runtime.registration import register_file
from mailroom.runtime.worker import Worker
from tests.audit_trail import to_states
from tests.conftest import make_settings
from tests.letters import PAGE_1, PAGE_2, two_page_letter

#: A test that waits longer than this for its messages has failed.
PATIENCE_SECONDS = 60.0


class LetterReader:
    """Reads the test letter's known text off its pages, as Tesseract would."""

    name = "fake reader"

    def recognize(self, page: PreparedPage) -> PageOcr:
        lines = PAGE_1 if page.number == 1 else PAGE_2
        words = [
            Word(word, 95.0, Box(40 + 60 * col, 40 + 30 * row, 55, 20), row)
            for row, line in enumerate(lines)
            for col, word in enumerate(line.split())
        ]
        return PageOcr(page.number, "\n".join(lines), 95.0, words, engine=self.name)


class TimesOutFirst(LetterReader):
    """Tesseract runs into its time limit on the first ``failures`` pages, then reads."""

    def __init__(self, failures: int = 1) -> None:
        self.failures = failures

    def recognize(self, page: PreparedPage) -> PageOcr:
        if self.failures > 0:
            self.failures -= 1
            raise OcrTimeout("tesseract took longer than 180 s")
        return super().recognize(page)


class CrashingReader(LetterReader):
    """A Tesseract that crashes on every page: a permanent processing error."""

    def recognize(self, page: PreparedPage) -> PageOcr:
        raise OcrError("tesseract crashed (signal 11)")


class DatabaseDownOnce(DocumentProcessor):
    """The worker's processor while the database is briefly away: the first call fails."""

    def __init__(self, ctx: AppContext, owner: str) -> None:
        super().__init__(ctx, owner)
        self.calls: list[str] = []

    def handle(self, document_id: str, *, redelivered: bool = False) -> Report:
        self.calls.append(document_id)
        if len(self.calls) == 1:
            raise DatabaseUnavailable("database error: connection refused")
        return super().handle(document_id, redelivered=redelivered)


@pytest.fixture
def mem_ctx(tmp_path: Path) -> Iterator[AppContext]:
    """An embedded context whose queue is kombu's memory transport (a queue of its own)."""
    settings = make_settings(
        tmp_path / "data",
        broker_url="memory://",
        queue_name=f"mailroom.test.{uuid.uuid4().hex[:10]}",
        sweep_interval_seconds=0.3,
        max_attempts=3,
    )
    ctx = AppContext.from_settings(settings, migrate=True)
    ctx.ocr = LetterReader()
    yield ctx
    ctx.close()


def register_letter(ctx: AppContext, folder: Path, seed: int = 7) -> str:
    """Register (and publish) one scanned letter; return the document id."""
    path = two_page_letter(folder / f"brief-{seed}.tif", seed=seed)
    doc = register_file(ctx, ctx.scan_lines[0], path, move=False)
    assert doc is not None and doc.state == S.QUEUED
    return doc.id


def publish_raw(ctx: AppContext, body: str, content_type: str = "application/json") -> None:
    """Put a message on the document queue that did not come from mailroom."""
    with ctx.queue.connect() as conn:
        ctx.queue.declare(conn)
        Producer(conn.default_channel).publish(
            body,
            exchange="",
            routing_key=ctx.settings.queue_name,
            content_type=content_type,
            content_encoding="utf-8",
        )


def consume(worker: Worker, messages: int) -> None:
    """Run the worker until it has handled ``messages`` documents (or fail after a while)."""
    stop = threading.Event()
    timer = threading.Timer(PATIENCE_SECONDS, stop.set)
    timer.start()
    try:
        worker.run(stop, max_messages=messages)
    finally:
        timer.cancel()
    assert not stop.is_set(), f"the worker handled {worker.processed} of {messages} messages"


def dead_letters(ctx: AppContext) -> list[dict[str, Any]]:
    """Take every message off the dead-letter queue."""
    bodies: list[dict[str, Any]] = []
    with ctx.queue.connect() as conn:
        dead = conn.SimpleQueue(ctx.queue.dead_queue)
        while True:
            try:
                message = dead.get(timeout=0.3)
            except Empty:
                return bodies
            bodies.append(message.payload)
            message.ack()


def document(ctx: AppContext, doc_id: str) -> models.Document:
    with ctx.db.session() as session:
        doc = session.get(models.Document, doc_id)
        assert doc is not None
        return doc


# -- malformed messages -------------------------------------------------------------------


def test_malformed_messages_are_dead_lettered_and_the_next_document_is_processed(
    mem_ctx: AppContext, tmp_path: Path
) -> None:
    publish_raw(mem_ctx, "this is not JSON")
    publish_raw(mem_ctx, '{"attempt": 1}')
    doc_id = register_letter(mem_ctx, tmp_path)
    worker = Worker(mem_ctx, name="w1")
    consume(worker, 1)
    assert worker.last_report is not None and worker.last_report.outcome is Outcome.DONE
    assert document(mem_ctx, doc_id).state in (S.ROUTED, S.REVIEW)
    reasons = [body["reason"] for body in dead_letters(mem_ctx)]
    assert len(reasons) == 2
    assert reasons[0].startswith("undecodable message")
    assert reasons[1] == "queue message has no valid document_id: None"
    assert mem_ctx.queue.depth() == 0


# -- transient failures -------------------------------------------------------------------


def test_a_transient_failure_is_acked_and_the_sweeper_beside_the_consumer_retries(
    mem_ctx: AppContext, tmp_path: Path
) -> None:
    mem_ctx.ocr = TimesOutFirst()
    doc_id = register_letter(mem_ctx, tmp_path)
    worker = Worker(mem_ctx, name="w1")
    consume(worker, 2)
    # The retry was recorded and the message acknowledged (with prefetch 1 an unacked
    # message would have blocked the republished one); the worker's own sweeper thread
    # put the document back on the queue once its backoff had passed.
    assert to_states(mem_ctx, doc_id) == [
        S.RECEIVED,
        S.QUEUED,
        S.PROCESSING,
        S.RETRY_WAIT,
        S.QUEUED,
        S.PROCESSING,
        document(mem_ctx, doc_id).state,
    ]
    assert document(mem_ctx, doc_id).attempts == 2
    assert worker.last_report is not None and worker.last_report.outcome is Outcome.DONE
    assert dead_letters(mem_ctx) == []
    assert mem_ctx.queue.depth() == 0


def test_a_database_outage_while_recording_requeues_the_message(
    mem_ctx: AppContext, tmp_path: Path
) -> None:
    doc_id = register_letter(mem_ctx, tmp_path)
    worker = Worker(mem_ctx, name="w1")
    worker.processor = flaky = DatabaseDownOnce(mem_ctx, worker.name)
    consume(worker, 1)
    assert flaky.calls == [doc_id, doc_id]  # the same message came back
    doc = document(mem_ctx, doc_id)
    assert doc.state in (S.ROUTED, S.REVIEW) and doc.attempts == 1
    assert dead_letters(mem_ctx) == []
    assert mem_ctx.queue.depth() == 0


def test_a_poison_document_fails_and_is_dead_lettered_after_max_attempts(
    mem_ctx: AppContext, tmp_path: Path
) -> None:
    mem_ctx.ocr = TimesOutFirst(failures=1_000)
    doc_id = register_letter(mem_ctx, tmp_path)
    worker = Worker(mem_ctx, name="w1")
    consume(worker, mem_ctx.settings.max_attempts)
    doc = document(mem_ctx, doc_id)
    assert doc.state == S.FAILED and doc.attempts == mem_ctx.settings.max_attempts
    assert "gave up after 3 attempts" in str(doc.state_reason)
    assert to_states(mem_ctx, doc_id).count(S.RETRY_WAIT) == mem_ctx.settings.max_attempts - 1
    [dead] = dead_letters(mem_ctx)
    assert dead["document_id"] == doc_id and dead["attempt"] == mem_ctx.settings.max_attempts
    assert "OcrTimeout" in dead["reason"]


# -- permanent failures -------------------------------------------------------------------


def test_a_crashing_ocr_engine_fails_the_document_and_dead_letters_it(
    mem_ctx: AppContext, tmp_path: Path
) -> None:
    mem_ctx.ocr = CrashingReader()
    doc_id = register_letter(mem_ctx, tmp_path)
    consume(Worker(mem_ctx, name="w1"), 1)
    doc = document(mem_ctx, doc_id)
    assert doc.state == S.FAILED and doc.attempts == 1
    [dead] = dead_letters(mem_ctx)
    assert dead["document_id"] == doc_id and "tesseract crashed" in dead["reason"]


def test_an_unreadable_original_is_quarantined_and_dead_lettered(
    mem_ctx: AppContext, tmp_path: Path
) -> None:
    doc_id = register_letter(mem_ctx, tmp_path)
    original = document(mem_ctx, doc_id).original_key
    assert original is not None
    mem_ctx.store.put(original, b"II*\x00 not a TIFF after all", "image/tiff")
    consume(Worker(mem_ctx, name="w1"), 1)
    doc = document(mem_ctx, doc_id)
    assert doc.state == S.QUARANTINED
    [dead] = dead_letters(mem_ctx)
    assert dead["document_id"] == doc_id and dead["reason"] == doc.state_reason


# -- the broker connection ------------------------------------------------------------------


def test_reconnects_wait_by_the_retry_policy_and_a_stop_ends_the_wait(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: every connection attempt is refused at once.
    settings = make_settings(tmp_path / "data", broker_url="amqp://guest:guest@127.0.0.1:1//")
    ctx = AppContext.from_settings(settings, migrate=True)
    ctx.ocr = LetterReader()
    stop = threading.Event()
    worker = Worker(ctx, name="w1")
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    caplog.set_level(logging.WARNING, logger="mailroom.runtime.worker")
    thread.start()
    try:
        delays = _reconnect_delays(caplog, count=4)
    finally:
        stop.set()
        thread.join(5)
        ctx.close()
    assert not thread.is_alive()
    policy = settings.service_backoff  # waiting out the broker
    for failures, delay in enumerate(delays, start=1):
        nominal = policy.nominal(failures)
        assert nominal / 2 - 0.05 <= delay <= nominal + 0.05, (failures, delay)


def _reconnect_delays(caplog: pytest.LogCaptureFixture, count: int) -> list[float]:
    """The waits the worker announced between its connection attempts."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        found = re.findall(r"trying again in ([\d.]+) s", caplog.text)
        if len(found) >= count:
            return [float(d) for d in found[:count]]
        time.sleep(0.05)
    raise AssertionError(f"the worker did not retry {count} times: {caplog.text}")
