"""Fault drills on RabbitMQ: refused messages, a closed connection, a long document, a kill.

Workers run in threads of the test process (with a fake OCR engine where a drill needs
a slow page) against the real broker; the embedded SQLite database and filesystem object
store hold the documents. The last drill kills a real ``mailroom worker`` process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Producer
from sqlalchemy import select

from mailroom.core.states import DocumentState as S
from mailroom.demo.scan import degrade, render_page, tiff_bytes
from mailroom.infra.db.models import AuditEvent
from mailroom.runtime.context import AppContext
from tests.conftest import make_settings
from tests.letters import PAGE_1, PAGE_2, two_page_letter
from tests.unit.test_consumer import LetterReader, register_letter
from tests.worker_drills import (
    PATIENCE_SECONDS,
    ObservedWorker,
    SlowReader,
    document,
    register,
    running,
    trail,
    wait_until,
)

#: The heartbeat timeout the drills ask RabbitMQ for: a silent connection is dropped
#: after about two of them.
HEARTBEAT_SECONDS = 5


@pytest.fixture
def amqp_ctx(tmp_path: Path, amqp_url: str, amqp_queue_name: str) -> Iterator[AppContext]:
    settings = make_settings(
        tmp_path / "data",
        broker_url=amqp_url,
        queue_name=amqp_queue_name,
        broker_heartbeat_seconds=HEARTBEAT_SECONDS,
    )
    ctx = AppContext.from_settings(settings, migrate=True)
    ctx.ocr = LetterReader()
    yield ctx
    ctx.close()


def worker_name() -> str:
    """A name no other test's (or test session's) worker connection has."""
    return f"drill-{uuid.uuid4().hex[:10]}"


def publish_raw(ctx: AppContext, body: str, content_type: str) -> None:
    """Put a message on the document queue that did not come from mailroom."""
    with ctx.queue.connect() as conn:
        ctx.queue.declare(conn)
        Producer(conn.default_channel).publish(
            body,
            exchange=ctx.queue.exchange,
            routing_key=ctx.queue.queue.routing_key,  # each queue is bound by its name
            content_type=content_type,
            content_encoding="utf-8",
        )


def dead_letters(ctx: AppContext, count: int) -> list[dict[str, Any]]:
    """Take ``count`` messages off the dead-letter queue (they are there already)."""
    bodies: list[dict[str, Any]] = []
    with ctx.queue.connect() as conn:
        dead = conn.SimpleQueue(ctx.queue.dead_queue)
        for _ in range(count):
            try:
                message = dead.get(timeout=PATIENCE_SECONDS)
            except Empty:
                break
            bodies.append(message.payload)
            message.ack()
    return bodies


def rabbitmqctl(*args: str) -> str:
    try:
        out = subprocess.run(
            ["rabbitmqctl", *args], capture_output=True, text=True, timeout=120, check=True
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {exc}")
    return out.stdout


def broker_connections(name: str) -> list[str]:
    """The connections (their Erlang pids) a worker called ``name`` holds on RabbitMQ."""
    listing = rabbitmqctl("list_connections", "pid", "client_properties", "--no-table-headers")
    return [line.split("\t", 1)[0] for line in listing.splitlines() if f'"{name}"' in line]


# -- messages that are not documents ----------------------------------------------------


def test_refused_messages_are_dead_lettered_with_their_reason_and_the_next_is_processed(
    amqp_ctx: AppContext, tmp_path: Path
) -> None:
    publish_raw(amqp_ctx, "this is not JSON", "application/json")
    publish_raw(amqp_ctx, "Bitte um Rückruf", "text/plain")
    doc_id = register_letter(amqp_ctx, tmp_path)
    worker = ObservedWorker(amqp_ctx, worker_name())
    with running(worker, max_messages=1) as thread:
        wait_until(lambda: not thread.is_alive(), "the worker to process the document")
    assert document(amqp_ctx, doc_id).state in (S.ROUTED, S.REVIEW)
    assert worker.calls == [(doc_id, False)]
    first, second = dead_letters(amqp_ctx, 2)
    assert first["reason"].startswith("undecodable message")
    assert first["original"] == "this is not JSON"
    assert second["reason"].startswith("undecodable message") and "text/plain" in second["reason"]
    assert second["original"] == "Bitte um Rückruf"
    assert amqp_ctx.queue.depth(dead=True) == 0
    assert amqp_ctx.queue.depth() == 0


# -- the connection ------------------------------------------------------------------------


def test_a_worker_whose_connection_the_broker_closes_reconnects_and_goes_on(
    amqp_ctx: AppContext, tmp_path: Path
) -> None:
    name = worker_name()
    worker = ObservedWorker(amqp_ctx, name)
    with running(worker, max_messages=1) as thread:
        wait_until(lambda: worker.connections == 1 or None, "the worker to consume")
        [first] = wait_until(lambda: broker_connections(name), "the worker's connection")
        rabbitmqctl("close_connection", first, "fault drill")
        wait_until(lambda: worker.connections >= 2 or None, "the worker to connect again")
        # The broker lists the new connection (under the same worker name), not the old one.
        wait_until(
            lambda: (listed := broker_connections(name)) and first not in listed,
            "the worker's new connection instead of the closed one",
        )
        doc_id = register(amqp_ctx, two_page_letter(tmp_path / "brief.tif"))
        wait_until(lambda: not thread.is_alive(), "the worker to process the next document")
    assert document(amqp_ctx, doc_id).state in (S.ROUTED, S.REVIEW)
    assert worker.calls == [(doc_id, False)]


def test_a_long_document_keeps_its_connection_and_is_processed_and_acked_once(
    amqp_ctx: AppContext, tmp_path: Path
) -> None:
    # 2 pages of 12.5 s: the message stays unacknowledged for 25 s, far past the 10-15 s
    # after which RabbitMQ drops a connection that sends no heartbeats.
    amqp_ctx.ocr = SlowReader(2.5 * HEARTBEAT_SECONDS)
    doc_id = register_letter(amqp_ctx, tmp_path)
    worker = ObservedWorker(amqp_ctx, worker_name())
    with running(worker, max_messages=1) as thread:
        wait_until(lambda: not thread.is_alive(), "the worker to process the document")
    assert worker.connections == 1  # never dropped
    assert worker.calls == [(doc_id, False)]  # delivered once, never redelivered
    states = [state for state, _ in trail(amqp_ctx, doc_id)]
    assert states.count(S.PROCESSING) == 1
    assert document(amqp_ctx, doc_id).state in (S.ROUTED, S.REVIEW)
    # The worker closed its connection: an unacknowledged message would be back.
    assert amqp_ctx.queue.depth() == 0
    assert amqp_ctx.queue.depth(dead=True) == 0


# -- a dead worker -----------------------------------------------------------------------


def long_letter(path: Path, pages: int) -> Path:
    """The test letter's two pages over and over: a document that takes a while."""
    scans = [
        degrade(render_page(PAGE_1 if n % 2 == 0 else PAGE_2, seed=n), skew=1.0, seed=n)
        for n in range(pages)
    ]
    path.write_bytes(tiff_bytes(scans))
    return path


def start_worker(name: str, env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    log = (logs / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "mailroom", "worker", "--name", name],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def worker_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env.update(
        MAILROOM_DATA_DIR=str(data_dir),
        MAILROOM_RETRY_BACKOFF_SECONDS="0.2",
        OMP_THREAD_LIMIT="1",
        **extra,
    )
    return env


@pytest.fixture
def embedded_ctx(tmp_path: Path) -> Iterator[AppContext]:
    """The embedded default (filesystem transport: no redelivery), a short lease and sweep."""
    settings = make_settings(tmp_path / "data", lease_seconds=10, sweep_interval_seconds=1.0)
    ctx = AppContext.from_settings(settings, migrate=True)
    yield ctx
    ctx.close()


@pytest.mark.slow
def test_a_killed_workers_document_is_taken_over_by_another_worker_within_a_minute(
    embedded_ctx: AppContext, tmp_path: Path
) -> None:
    # Real `mailroom worker` processes with real OCR on an 8-page letter.
    ctx = embedded_ctx
    env = worker_env(
        ctx.settings.data_dir, MAILROOM_LEASE_SECONDS="20", MAILROOM_SWEEP_INTERVAL_SECONDS="1"
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    workers = {name: start_worker(name, env, logs) for name in ("drill-a", "drill-b")}
    try:
        for name in workers:
            wait_until(lambda: "consuming" in _log(logs, name), f"{name} to consume")
        doc_id = register(ctx, long_letter(tmp_path / "nachweise.tif", pages=8))
        victim = wait_until(lambda: _holder(ctx, doc_id, workers), "a worker to claim it")
        workers[victim].send_signal(signal.SIGKILL)
        workers[victim].wait()
        lease_end = document(ctx, doc_id).lease_until
        [rescuer] = [name for name in workers if name != victim]
        wait_until(
            lambda: (S.PROCESSING, rescuer) in trail(ctx, doc_id),
            f"{rescuer} to take the document over",
            timeout=60,
        )
        wait_until(
            lambda: document(ctx, doc_id).state in (S.ROUTED, S.REVIEW),
            f"{rescuer} to finish the document",
            timeout=600,  # real OCR of 8 pages on a busy machine; the takeover is the test
        )
        assert workers[rescuer].poll() is None, _log(logs, rescuer)
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in workers.values():
            try:
                proc.wait(PATIENCE_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    # The lease ran out (20 s), the rescuer's sweeper put the document back, and the
    # rescuer took it: once, and not before the lease ran out.
    final = document(ctx, doc_id).state
    changes = trail(ctx, doc_id)
    assert changes[changes.index((S.PROCESSING, victim)) :] == [
        (S.PROCESSING, victim),
        (S.QUEUED, rescuer),
        (S.PROCESSING, rescuer),
        (final, rescuer),
    ]
    assert lease_end is not None and _claimed_at(ctx, doc_id, rescuer) > lease_end


def _holder(ctx: AppContext, doc_id: str, workers: dict[str, Any]) -> str | None:
    doc = document(ctx, doc_id)
    return doc.lease_owner if doc.state == S.PROCESSING and doc.lease_owner in workers else None


def _claimed_at(ctx: AppContext, doc_id: str, owner: str) -> datetime:
    with ctx.db.session() as session:
        at = session.scalar(
            select(AuditEvent.at).where(
                AuditEvent.document_id == doc_id,
                AuditEvent.to_state == S.PROCESSING,
                AuditEvent.actor == owner,
            )
        )
    assert at is not None
    return at


def _log(logs: Path, name: str) -> str:
    return (logs / f"{name}.log").read_text(errors="replace")
