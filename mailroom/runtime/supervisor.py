"""``mailroom up``: watchers, worker processes and background jobs on one host.

The supervisor knows the product's own parts (watchers, workers, retraining). What an
interface adds — the web server, a live status view, the messages a person reads — is
handed in by :mod:`mailroom.cli`, so this layer never imports the interfaces above it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import func, select

from config.settings import Settings
from mailroom.core.errors import MailroomError
from mailroom.core.states import PENDING_STATES
from mailroom.infra.db.models import Document
from mailroom.runtime.context import AppContext
from mailroom.runtime.processes import stop_on_signals, worker_process

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
        self.procs: list[Any] = []

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

    def _watchers(self, stop: threading.Event) -> None:
        from mailroom.runtime.watchers import run_watchers

        run_watchers(self.ctx, stop)

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

    def _check_workers(self) -> None:
        for i, proc in enumerate(self.procs):
            if not proc.is_alive() and not self.stop.is_set():
                log.warning(
                    "worker process %s exited with %s; starting a new one", proc.name, proc.exitcode
                )
                self.procs[i] = spawn_workers(self.ctx.settings, 1)[0]

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start worker processes and every part's thread."""
        stop_on_signals(self.stop)
        self.procs = spawn_workers(self.ctx.settings, self.worker_count)
        self._start_thread("watchers", self._watchers)
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
                self._check_workers()
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
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: the worker finishes its document first
        for proc in self.procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
        for thread in self.threads:
            thread.join(timeout=10)


def spawn_workers(settings: Settings, count: int) -> list[multiprocessing.process.BaseProcess]:
    """Start ``count`` worker processes (spawned: no state inherited from this process)."""
    mp = multiprocessing.get_context("spawn")
    procs: list[multiprocessing.process.BaseProcess] = []
    for i in range(count):
        proc = mp.Process(
            target=worker_process,
            args=(settings, f"worker-{i + 1}@{os.getpid()}"),
            name=f"mailroom-worker-{i + 1}",
            daemon=False,
        )
        proc.start()
        procs.append(proc)
    return procs


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
