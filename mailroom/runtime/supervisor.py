"""``mailroom up``: watchers, worker processes and background jobs on one host.

The supervisor knows the product's own parts (watchers, workers, retraining). What an
interface adds — the web server, a live status view, the messages a person reads — is
handed in by :mod:`mailroom.cli`, so this layer never imports the interfaces above it.
The watchers run in a process of their own, apart from the web application's.

A worker process that dies is replaced, after a pause by ``settings.service_backoff``
that grows while replacements die soon again (each start warms up Tesseract and the
router; a worker that cannot start must not make a crash loop of it). Its leases are
ended at once, so the next sweep republishes the document it held.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Protocol

from sqlalchemy import func, select

from config.settings import Settings
from mailroom.core.backoff import Backoff
from mailroom.core.errors import MailroomError
from mailroom.core.states import PENDING_STATES
from mailroom.infra.db.models import Document
from mailroom.runtime import leases, logs
from mailroom.runtime.context import AppContext
from mailroom.runtime.processes import name_process, stop_on_signals, worker_process

log = logging.getLogger(__name__)

#: How often ``mailroom up`` checks whether enough corrections arrived to retrain.
RETRAIN_CHECK_SECONDS = 300

#: A part run in a thread of its own until the stop event is set.
Part = Callable[[threading.Event], None]


class StatusView(Protocol):
    """A live view of the processing (the CLI's rich table)."""

    def start(self) -> None: ...
    def refresh(self) -> None: ...
    def stop(self) -> None: ...


@dataclass
class _Slot:
    """A place for one worker process: the process, and the pace of its replacements."""

    number: int
    backoff: Backoff
    proc: BaseProcess | None = None
    started: float = 0.0
    restart_at: float | None = None  # set while a dead process waits for its replacement


class Supervisor:
    """Starts the parts, restarts a worker process that died, stops everything on Ctrl-C."""

    def __init__(
        self,
        ctx: AppContext,
        *,
        workers: int,
        parts: Sequence[tuple[str, Part]] = (),
        view: StatusView | None = None,
    ) -> None:
        self.ctx = ctx
        self.worker_count = workers
        self.extra_parts = list(parts)
        self.view = view
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.slots = [
            _Slot(number, Backoff(ctx.settings.service_backoff)) for number in range(1, workers + 1)
        ]
        self.watchers = _Slot(0, Backoff(ctx.settings.service_backoff))

    @property
    def procs(self) -> list[BaseProcess]:
        """The worker processes started last in each slot."""
        return [slot.proc for slot in self.slots if slot.proc is not None]

    # -- parts ------------------------------------------------------------------------

    def _start_thread(self, name: str, target: Part) -> None:
        thread = threading.Thread(target=self._guard, args=(name, target), name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _guard(self, name: str, target: Part) -> None:
        """Run a part; if it crashes, log it and start it again after a pause."""
        while not self.stop.is_set():
            try:
                target(self.stop)
                return
            except Exception:
                log.exception("%s stopped unexpectedly; restarting in 5 s", name)
                self.stop.wait(5)

    # -- the watcher process -------------------------------------------------------------

    def start_watchers(self) -> None:
        """The hot-folder watchers run in a process of their own: a large file's intake
        never costs the web application memory, and a watcher that dies is restarted."""
        self.watchers.proc = spawn_watchers(self.ctx.settings)
        self.watchers.started = time.monotonic()

    def check_watchers(self) -> None:
        """Restart the watcher process if it died, paced like a worker's replacement."""
        slot, now = self.watchers, time.monotonic()
        if self.stop.is_set() or (slot.restart_at is None and slot.proc and slot.proc.is_alive()):
            return
        if slot.restart_at is None:
            if now - slot.started >= slot.backoff.policy.maximum:
                slot.backoff.succeeded()  # it ran for a while: not a crash loop
            delay = slot.backoff.failed()
            slot.restart_at = now + delay
            exitcode = slot.proc.exitcode if slot.proc else None
            log.warning(
                "the watcher process exited with %s; starting a new one in %.1f s", exitcode, delay
            )
        elif now >= slot.restart_at:
            slot.restart_at = None
            self.start_watchers()

    def stop_watchers(self) -> None:
        """Stop the watcher process: SIGTERM, and SIGKILL if it does not end in 30 s."""
        proc = self.watchers.proc
        if proc is None:
            return
        if proc.is_alive():
            proc.terminate()  # SIGTERM: the file in hand is registered or left in place
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=10)

    def _retrainer(self, stop: threading.Event) -> None:
        """Retrain in the background after enough clerk corrections; never blocks intake."""
        while not stop.wait(RETRAIN_CHECK_SECONDS):
            try:
                version = self.ctx.registry.maybe_retrain(owner="mailroom-up")
            except MailroomError as exc:
                log.warning("background retraining failed: %s", exc)
                continue
            if version is not None:
                log.info(
                    "background retraining made model %s (%s)", version.version, version.status
                )

    # -- worker processes ----------------------------------------------------------------

    def start_workers(self) -> None:
        """Start a worker process in every slot."""
        for slot in self.slots:
            self._spawn(slot)

    def check_workers(self) -> None:
        """Note dead worker processes and start their replacements when due."""
        for slot in self.slots:
            if not self.stop.is_set():
                self._check(slot)

    def _check(self, slot: _Slot) -> None:
        if slot.restart_at is None:
            if slot.proc is not None and slot.proc.is_alive():
                return
            self._died(slot)
        if slot.restart_at is not None and time.monotonic() >= slot.restart_at:
            slot.restart_at = None
            self._spawn(slot)

    def _died(self, slot: _Slot) -> None:
        """End the dead process's leases; schedule its replacement by the retry policy."""
        released = self._release_leases(worker_name(slot.number))
        if time.monotonic() - slot.started >= slot.backoff.policy.maximum:
            slot.backoff.succeeded()  # it ran for a while: not a crash loop
        delay = slot.backoff.failed()
        slot.restart_at = time.monotonic() + delay
        log.warning(
            "worker process %s exited with %s (%d documents given back); "
            "starting a new one in %.1f s",
            worker_name(slot.number),
            slot.proc.exitcode if slot.proc else None,
            released,
            delay,
        )

    def _release_leases(self, owner: str) -> int:
        """End a dead worker's leases; if the database is away, they run out by themselves."""
        try:
            return leases.release_all(self.ctx, owner)
        except MailroomError as exc:
            log.warning("could not end the leases of %s: %s", owner, exc)
            return 0

    def _spawn(self, slot: _Slot) -> None:
        slot.proc = self._start_process(slot.number)
        slot.started = time.monotonic()

    def _start_process(self, number: int) -> BaseProcess:
        """Start worker process ``number`` (tests start another process here)."""
        return spawn_worker(self.ctx.settings, number)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start worker processes and every part's thread."""
        stop_on_signals(self.stop)
        self.start_workers()
        self.start_watchers()
        self._start_thread("retrain", self._retrainer)
        for name, part in self.extra_parts:
            self._start_thread(name, part)

    def run(self, *, exit_when_idle: bool = False) -> None:
        """Start, then supervise until stopped (or idle, with ``exit_when_idle``)."""
        self.start()
        try:
            if self.view:
                self.view.start()
            while not self.stop.is_set():
                if exit_when_idle and self._idle_twice():
                    break
                self.check_workers()
                self.check_watchers()
                if self.view:
                    self.view.refresh()
                self.stop.wait(1.0)
        finally:
            if self.view:
                self.view.stop()
            self.shutdown()

    def _idle_twice(self) -> bool:
        """Idle twice in a row, a few seconds apart: nothing is in flight."""
        if not wait_idle(self.ctx, timeout=0.1):
            return False
        time.sleep(3)
        return wait_idle(self.ctx, timeout=0.1)

    def shutdown(self) -> None:
        self.stop.set()
        self.stop_watchers()
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: the worker finishes its document first
        for slot in self.slots:
            if slot.proc is None:
                continue
            slot.proc.join(timeout=60)
            if slot.proc.is_alive():
                slot.proc.kill()
                slot.proc.join(timeout=10)
                self._release_leases(worker_name(slot.number))
        for thread in self.threads:
            thread.join(timeout=10)


def worker_name(number: int) -> str:
    """The name of this supervisor's worker ``number``: its lease owner and audit actor."""
    return f"worker-{number}@{os.getpid()}"


def spawn_worker(settings: Settings, number: int) -> BaseProcess:
    """Start worker process ``number`` (spawned: no state inherited from this process)."""
    proc = multiprocessing.get_context("spawn").Process(
        target=worker_process,
        args=(settings, worker_name(number)),
        name=f"mailroom-worker-{number}",
        daemon=False,
    )
    proc.start()
    return proc


def spawn_watchers(settings: Settings) -> BaseProcess:
    """Start the watcher process of ``mailroom up`` (spawned, like the workers)."""
    proc = multiprocessing.get_context("spawn").Process(
        target=watcher_process, args=(settings,), name="mailroom-watchers", daemon=False
    )
    proc.start()
    return proc


def watcher_process(settings: Settings) -> None:
    """Run every scan line's watcher until signalled (the watcher process's entry point)."""
    from mailroom.runtime.watchers import run_watchers

    name_process("mr-watchers")
    logs.setup_logging(settings.log_level)
    stop = threading.Event()
    stop_on_signals(stop)
    ctx = AppContext.from_settings(settings, migrate=False)
    try:
        run_watchers(ctx, stop)
    finally:
        ctx.close()


def wait_idle(ctx: AppContext, timeout: float) -> bool:
    """True once no document is pending and the hot folders are empty."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with ctx.db.session() as session:
            pending = session.scalar(
                select(func.count()).select_from(Document).where(Document.state.in_(PENDING_STATES))
            )
        waiting = any(
            p.is_file() and not p.name.startswith(".")
            for line in ctx.scan_lines
            if line.hot_folder.exists()
            for p in line.hot_folder.iterdir()
        )
        if not pending and not waiting:
            return True
        time.sleep(0.5)
    return False
