"""Workers under faults on the embedded services: leases, lost connections, dead processes.

Real workers consume from kombu's filesystem and memory transports with the embedded
SQLite database; only the OCR engine is a fake (slow where a drill needs a long page).
The same drills on RabbitMQ are in ``tests/integration/test_worker_connection.py``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest

from config.settings import Settings
from mailroom.core.states import DocumentState as S
from mailroom.infra.db import models
from mailroom.infra.db.models import utcnow
from mailroom.runtime.context import AppContext
from mailroom.runtime.processor import DocumentProcessor, Outcome
from mailroom.runtime.supervisor import Supervisor, worker_name
from mailroom.runtime.sweeper import Sweeper
from tests.conftest import make_settings
from tests.letters import two_page_letter
from tests.unit.test_consumer import LetterReader, register_letter
from tests.worker_drills import (
    ObservedWorker,
    SlowReader,
    document,
    register,
    running,
    trail,
    wait_until,
)


@pytest.fixture
def fs_ctx(tmp_path: Path) -> Iterator[AppContext]:
    """The embedded default: SQLite and kombu's filesystem transport."""
    ctx = AppContext.from_settings(make_settings(tmp_path / "data"), migrate=True)
    ctx.ocr = LetterReader()
    yield ctx
    ctx.close()


@pytest.fixture
def mem_ctx(tmp_path: Path) -> Iterator[AppContext]:
    """kombu's memory transport, the shortest lease, and a sweep every 0.3 s."""
    settings = make_settings(
        tmp_path / "data",
        broker_url="memory://",
        queue_name=f"mailroom.test.{uuid.uuid4().hex[:10]}",
        sweep_interval_seconds=0.3,
        lease_seconds=10,
    )
    ctx = AppContext.from_settings(settings, migrate=True)
    ctx.ocr = LetterReader()
    yield ctx
    ctx.close()


def hold(ctx: AppContext, doc_id: str, owner: str, seconds: float) -> None:
    """Put the document in ``processing`` under a lease of ``owner`` for ``seconds``."""
    with ctx.db.session() as session:
        doc = session.get(models.Document, doc_id)
        assert doc is not None
        doc.state = S.PROCESSING
        doc.lease_owner = owner
        doc.lease_until = utcnow() + timedelta(seconds=seconds)


# -- leases -------------------------------------------------------------------------------


def test_the_defaults_bring_a_dead_workers_document_back_within_a_minute() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    # The lease runs out at most lease_seconds after the worker died, the next sweep
    # comes at most one interval later.
    assert settings.lease_seconds + settings.sweep_interval_seconds < 60
    assert settings.broker_heartbeat_seconds == 30


def test_a_redelivered_message_does_not_take_over_a_lease_that_is_still_held(
    fs_ctx: AppContext, tmp_path: Path
) -> None:
    doc_id = register_letter(fs_ctx, tmp_path)
    hold(fs_ctx, doc_id, "worker-that-lost-its-connection", seconds=30)
    report = DocumentProcessor(fs_ctx, "w2").handle(doc_id, redelivered=True)
    assert report.outcome is Outcome.SKIPPED and report.reason == "held by another worker"
    doc = document(fs_ctx, doc_id)
    assert doc.state == S.PROCESSING and doc.lease_owner == "worker-that-lost-its-connection"
    assert doc.attempts == 0


def test_the_lease_is_renewed_while_one_page_takes_longer_than_the_lease(
    mem_ctx: AppContext, tmp_path: Path
) -> None:
    lease = mem_ctx.settings.lease_seconds
    mem_ctx.ocr = SlowReader(lease * 1.3, pages=(1,))  # no page boundary within the lease
    doc_id = register_letter(mem_ctx, tmp_path)
    worker = ObservedWorker(mem_ctx, "w1")
    with running(worker, max_messages=1) as thread:
        wait_until(lambda: not thread.is_alive(), "the worker to finish the document")
    # The worker's own sweeper looked every 0.3 s: it never found the lease run out.
    assert [state for state, _ in trail(mem_ctx, doc_id)] == [
        S.RECEIVED,
        S.QUEUED,
        S.PROCESSING,
        document(mem_ctx, doc_id).state,
    ]
    assert document(mem_ctx, doc_id).state in (S.ROUTED, S.REVIEW)
    assert worker.calls == [(doc_id, False)]
    assert mem_ctx.queue.depth() == 0


# -- the broker connection ------------------------------------------------------------------


def test_a_filesystem_queue_lost_mid_consume_is_reconnected_and_consumed_again(
    fs_ctx: AppContext, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mailroom.runtime.worker")
    folder = fs_ctx.settings.queue_folder
    worker = ObservedWorker(fs_ctx, "w1")
    with running(worker, max_messages=1) as thread:
        wait_until(lambda: worker.connections == 1, "the worker to consume")
        # The queue folder is lost under the consumer (a volume gone): kombu's filesystem
        # transport raises a plain OSError from drain_events, and so does every attempt
        # to connect again while the fault lasts.
        wait_until(lambda: _replace_by_a_file(folder), "the queue folder to be replaced")
        wait_until(lambda: "broker connection lost" in caplog.text, "the worker to notice")
        folder.unlink()  # the volume is back
        wait_until(lambda: worker.connections >= 2, "the worker to connect again")
        doc_id = register(fs_ctx, two_page_letter(tmp_path / "brief.tif"))
        wait_until(lambda: not thread.is_alive(), "the worker to process the next document")
    assert document(fs_ctx, doc_id).state in (S.ROUTED, S.REVIEW)
    assert worker.calls == [(doc_id, False)]


def _replace_by_a_file(folder: Path) -> bool:
    """Put a file where the queue folder was (False if a sweep made the folder anew first).

    A file, because a missing folder would be made again by the next connection, the
    sweeper's included, perhaps before the consumer looked into it.
    """
    shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.write_text("not a folder")
    except IsADirectoryError:
        return False
    return True


# -- the supervisor -----------------------------------------------------------------------


class CrashingWorkers(Supervisor):
    """A supervisor whose worker processes die at once; it notes when it started each."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx, workers=1)
        self.started: list[float] = []

    def _start_process(self, number: int) -> BaseProcess:
        # A worker process that dies while starting (say, the database is away).
        proc = multiprocessing.get_context("spawn").Process(target=os._exit, args=(3,))
        proc.start()
        self.started.append(time.monotonic())
        return proc


def test_the_supervisor_gives_back_a_dead_workers_document_and_paces_its_restarts(
    tmp_path: Path,
) -> None:
    # retry_backoff_seconds 1: restarts 1, 2, 4 s apart (each at least half of that).
    ctx = AppContext.from_settings(
        make_settings(tmp_path / "data", retry_backoff_seconds=1.0), migrate=True
    )
    doc_id = register_letter(ctx, tmp_path)
    hold(ctx, doc_id, worker_name(1), seconds=3600)
    supervisor = CrashingWorkers(ctx)
    try:
        supervisor.start_workers()
        wait_until(lambda: _check(supervisor) >= 4, "four starts of the worker process")
    finally:
        supervisor.stop.set()
        for proc in supervisor.procs:
            proc.join(30)
    # The dead worker's lease ended at once: the next sweep republishes its document.
    assert Sweeper(ctx).run() == 1
    assert document(ctx, doc_id).state == S.QUEUED
    policy = ctx.settings.service_backoff
    gaps = [later - earlier for earlier, later in zip(supervisor.started, supervisor.started[1:])]
    for failures, gap in enumerate(gaps[:3], start=1):
        assert gap >= policy.nominal(failures) / 2 - 0.05, (failures, gaps)
    ctx.close()


def _check(supervisor: CrashingWorkers) -> int:
    supervisor.check_workers()
    return len(supervisor.started)


def test_a_worker_whose_lease_was_taken_over_leaves_the_result_to_the_new_holder(
    fs_ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fencing: cut off from the database for longer than its lease, a worker comes back
    to find another worker holding the document; it must not record over it."""
    from mailroom.runtime import processor

    doc_id = register_letter(fs_ctx, tmp_path)
    pipeline = processor.run_pipeline

    def cut_off(*args: object, **kwargs: object) -> object:
        result = pipeline(*args, **kwargs)  # type: ignore[arg-type]
        hold(fs_ctx, doc_id, "w2", seconds=30)  # meanwhile: lease ran out, w2 took over
        return result

    monkeypatch.setattr(processor, "run_pipeline", cut_off)
    report = DocumentProcessor(fs_ctx, "w1").handle(doc_id)
    assert report.outcome is Outcome.SKIPPED
    doc = document(fs_ctx, doc_id)
    assert doc.state == S.PROCESSING and doc.lease_owner == "w2"
    assert [state for state, _ in trail(fs_ctx, doc_id)][-1] == S.PROCESSING


def test_a_message_the_full_queue_disk_did_not_take_back_is_published_again(
    fs_ctx: AppContext, tmp_path: Path
) -> None:
    """kombu's filesystem transport cannot requeue on a full disk: the message would be
    gone until the sweeper's lost-message check; the worker publishes it again itself."""
    from mailroom.infra.queue import DocumentMessage
    from mailroom.runtime.worker import Worker

    class Unrequeueable:
        def requeue(self) -> None:
            raise OSError(28, "No space left on device")

    doc_id = register_letter(fs_ctx, tmp_path)
    while fs_ctx.queue.depth():  # the registration's own message: taken off, as consumed
        with fs_ctx.queue.connect() as conn:
            conn.SimpleQueue(fs_ctx.queue.queue).get(timeout=5).ack()
    worker = Worker(fs_ctx, name="w1")
    with pytest.raises(OSError):
        worker._requeue(Unrequeueable(), DocumentMessage(doc_id), RuntimeError("db away"))  # type: ignore[arg-type]
    assert fs_ctx.queue.depth() == 0
    worker.on_iteration()
    assert fs_ctx.queue.depth() == 1 and not worker._owed
