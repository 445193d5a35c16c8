"""Drills on mailroom's own processes and messages: killed workers and watchers, poison
letters, malformed queue messages, and a document that outlives the broker's heartbeat."""

from __future__ import annotations

import os
import signal
import time

from kombu import Producer

from benchmarks.drills.drill import Drill
from benchmarks.drills.letters import POISON
from benchmarks.drills.observe import Outcome
from mailroom.core.states import DocumentState as S
from mailroom.infra.queue import DocumentQueue


def worker_kill(d: Drill) -> Outcome:
    """``kill -9`` the worker that is in the middle of a letter, ``kills`` times.

    Letters arrive a few before each kill, so that one is always being read (a letter
    takes a worker a second or two).
    """
    with d.start():
        last_kill, killed = time.time(), 0
        per_round = max(1, d.profile.letters // d.profile.kills)
        for round_ in range(d.profile.kills):
            d.drop(per_round if round_ < d.profile.kills - 1 else
                   d.profile.letters - per_round * (d.profile.kills - 1))  # fmt: skip
            doc_id = d.wait_for(S.PROCESSING)
            owner = d.lease_owner(doc_id) if doc_id else None
            pid = _worker_pid(d, owner)
            if pid is None:
                continue
            time.sleep(d.rng.uniform(0.1, 0.6))  # somewhere in the middle of the OCR
            os.kill(pid, signal.SIGKILL)
            last_kill, killed = time.time(), killed + 1
            time.sleep(1.0)
        outcome = d.finish(last_kill)
        outcome.notes.insert(0, f"{killed} workers killed")
        if killed < d.profile.kills:
            outcome.failures.append(f"only {killed} kills: no document was being processed")
        return outcome


def _worker_pid(d: Drill, owner: str | None) -> int | None:
    """The process of the worker named ``worker-N@…`` (any worker if unknown)."""
    names = d.m.descendants()
    wanted = "mr-" + owner.split("@", 1)[0] if owner else "mr-worker"
    for pid, name in names.items():
        if name == wanted:
            return pid
    return next((pid for pid, name in names.items() if name.startswith("mr-worker")), None)


def watcher_kill(d: Drill) -> Outcome:
    """``kill -9`` the watcher process again and again while letters arrive."""
    with d.start():
        kills, last_kill = 0, time.time()
        rounds = d.profile.kills * 3
        for index in range(rounds):
            if index < d.profile.letters * 2:
                d.drop(1)
            time.sleep(d.rng.uniform(0.4, 1.2))  # intake: hash, upload, commit, publish, move
            pids = d.m.pids("mr-watchers")
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                kills, last_kill = kills + 1, time.time()
            _wait(lambda: bool(d.m.pids("mr-watchers")), 30)
        outcome = d.finish(last_kill)
        outcome.notes.insert(0, f"watcher killed {kills} times")
        return outcome


def poison(d: Drill) -> Outcome:
    """Letters that kill every worker that reads them, among good ones: they end
    ``failed`` (dead-lettered) after their attempts; the others finish; the slots refill."""
    attempts = 3
    with d.start({"max_attempts": str(attempts)}):
        d.drop(2, prefix=POISON)
        d.drop(d.profile.letters)
        dropped = time.time()
        outcome = d.finish(dropped)
        # Each poison letter kills one worker per attempt; those exits are expected.
        outcome.exits = max(0, outcome.exits - 2 * attempts)
        dead = _dead_letters(d)
        outcome.notes.insert(0, f"dead-letter queue holds {dead}")
        return outcome


def malformed_messages(d: Drill) -> Outcome:
    """Messages no worker can read reach the queue before the letters: a body that is not
    JSON, a text/plain body, an unknown document id. They are dead-lettered at once and
    the letters behind them flow on."""
    with d.start():
        queue = DocumentQueue(d.m.settings())
        bad = [
            ("{not json", "application/json"),
            ("hello", "text/plain"),
            ('{"document_id": "0000000000000000000000000000dead"}', "application/json"),
            ('["a", "list"]', "application/json"),
        ]
        with queue.connect() as conn:
            queue.declare(conn)
            exchange, key = queue._route(queue.exchange, queue.queue.routing_key, queue.queue)
            producer = Producer(conn.default_channel)
            for body, content_type in bad:
                producer.publish(body, exchange=exchange, routing_key=key,
                                 content_type=content_type, content_encoding="utf-8",
                                 delivery_mode=2)  # fmt: skip
        published = time.time()
        d.drop(d.profile.letters)
        outcome = d.finish(published)
        dead = _dead_letters(d)
        outcome.notes.insert(0, f"{len(bad)} bad messages, dead-letter queue holds {dead}")
        if dead is not None and dead < len(bad):
            outcome.failures.append(f"only {dead} of {len(bad)} bad messages dead-lettered")
        return outcome


def long_document(d: Drill) -> Outcome:
    """A dense multi-page PDF whose OCR lasts several broker heartbeat timeouts, beside
    ordinary letters: recognised once, by one worker, with one attempt."""
    with d.start({"broker_heartbeat_seconds": "5"}):
        long_pdf = d.box.long_pdf(d.profile.long_pages)
        (name,) = d.drop(1, prefix="long", source=long_pdf)
        d.drop(2)
        dropped = time.time()
        outcome = d.finish(dropped)
        docs = d.seen.rows([name])[name]
        attempts = [doc.attempts for doc in docs]
        seconds = [round(doc.processing_seconds or 0) for doc in docs]
        outcome.notes.insert(0, f"{d.profile.long_pages} pages: attempts {attempts}, {seconds} s")
        if attempts != [1]:
            outcome.failures.append(f"long document took attempts {attempts}")
        outcome.recover_s = 0.0 if outcome.finished == outcome.dropped else None
        return outcome


def _dead_letters(d: Drill) -> int | None:
    return DocumentQueue(d.m.settings()).depth(dead=True)


def _wait(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return True
        time.sleep(0.2)
    return False
