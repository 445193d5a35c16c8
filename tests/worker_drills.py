"""Helpers for fault drills on workers: slow OCR, observed workers, polling, audit trails."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from kombu import Connection, Consumer
from sqlalchemy import select

from mailroom.core.domain import PageOcr, PreparedPage
from mailroom.infra.db import models
from mailroom.runtime.context import AppContext
from mailroom.runtime.processor import DocumentProcessor, Report
from mailroom.runtime.registration import register_file
from mailroom.runtime.worker import Worker
from tests.unit.test_consumer import LetterReader

#: A drill that waits longer than this for what it expects has failed.
PATIENCE_SECONDS = 120.0

T = TypeVar("T")


class SlowReader(LetterReader):
    """Reads the test letter like :class:`LetterReader`, taking ``seconds`` per page."""

    def __init__(self, seconds: float, *, pages: tuple[int, ...] | None = None) -> None:
        self.seconds = seconds
        self.pages = pages  # only these pages are slow (None: all)

    def recognize(self, page: PreparedPage) -> PageOcr:
        if self.pages is None or page.number in self.pages:
            time.sleep(self.seconds)  # a long page: the consuming thread is busy, not waiting
        return super().recognize(page)


class RecordingProcessor(DocumentProcessor):
    """The worker's processor, noting each message it was handed and its redelivery flag."""

    def __init__(self, ctx: AppContext, owner: str) -> None:
        super().__init__(ctx, owner)
        self.calls: list[tuple[str, bool]] = []

    def handle(self, document_id: str, *, redelivered: bool = False) -> Report:
        self.calls.append((document_id, redelivered))
        return super().handle(document_id, redelivered=redelivered)


class ObservedWorker(Worker):
    """A worker that counts the connections it started consuming on."""

    def __init__(self, ctx: AppContext, name: str) -> None:
        super().__init__(ctx, name)
        self.processor = RecordingProcessor(ctx, self.name)
        self.connections = 0

    def on_consume_ready(
        self, connection: Connection, channel: Any, consumers: list[Consumer], **kwargs: Any
    ) -> None:
        super().on_consume_ready(connection, channel, consumers, **kwargs)
        self.connections += 1

    @property
    def calls(self) -> list[tuple[str, bool]]:
        assert isinstance(self.processor, RecordingProcessor)
        return self.processor.calls


@contextmanager
def running(worker: Worker, max_messages: int | None = None) -> Iterator[threading.Thread]:
    """Run ``worker`` in a thread for the block; stop it afterwards (it must stop)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run, args=(stop,), kwargs={"max_messages": max_messages}, daemon=True
    )
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(PATIENCE_SECONDS)
    assert not thread.is_alive(), "the worker did not stop"


def wait_until(check: Callable[[], T | None], what: str, timeout: float = PATIENCE_SECONDS) -> T:
    """Poll ``check`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def trail(ctx: AppContext, doc_id: str) -> list[tuple[str | None, str]]:
    """The document's state changes, oldest first: (new state, who changed it)."""
    with ctx.db.session() as session:
        events = session.scalars(
            select(models.AuditEvent)
            .where(models.AuditEvent.document_id == doc_id, models.AuditEvent.action == "state")
            .order_by(models.AuditEvent.id)
        ).all()
        return [(e.to_state, e.actor) for e in events]


def register(ctx: AppContext, path: Path) -> str:
    """Register (and publish) a scanned file while workers may already be consuming.

    Its state is not checked: a running worker may claim it before the intake recorded
    the publish (see :mod:`mailroom.lifecycle`).
    """
    doc = register_file(ctx, ctx.scan_lines[0], path, move=False)
    assert doc is not None
    return doc.id


def document(ctx: AppContext, doc_id: str) -> models.Document:
    with ctx.db.session() as session:
        doc = session.get(models.Document, doc_id)
        assert doc is not None
        return doc
