"""``mailroom up``: watchers, worker processes, web application and retraining on one host."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from mailroom.runtime.context import AppContext

log = logging.getLogger(__name__)

#: How often ``mailroom up`` checks whether enough corrections arrived to retrain.
RETRAIN_CHECK_SECONDS = 300


class Supervisor:
    """Starts the parts, restarts a worker process that died, stops everything on Ctrl-C."""

    def __init__(self, ctx: AppContext, *, workers: int, web: bool, live: bool) -> None:
        self.ctx = ctx
        self.worker_count = workers
        self.web = web
        self.live = live
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.procs: list[Any] = []
        self._web_server: Any = None

    # -- parts ------------------------------------------------------------------------

    def _start_thread(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=self._guard, args=(name, target), name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _guard(self, name: str, target: Any) -> None:
        """Run a part; if it crashes, log it and start it again after a pause."""
        while not self.stop.is_set():
            try:
                target()
                return
            except Exception:
                log.exception("%s stopped unexpectedly; restarting in 5 s", name)
                self.stop.wait(5)

    def _watchers(self) -> None:
        from intake.watcher import run_watchers

        run_watchers(self.ctx, self.stop)

    def _retrainer(self) -> None:
        """Retrain in the background after enough clerk corrections; never blocks intake."""
        from mailroom.core.errors import MailroomError

        while not self.stop.wait(RETRAIN_CHECK_SECONDS):
            try:
                version = self.ctx.registry.maybe_retrain(owner="mailroom-up")
            except MailroomError as exc:
                log.warning("background retraining failed: %s", exc)
                continue
            if version is not None:
                log.info(
                    "background retraining made model %s (%s)", version.version, version.status
                )

    def _web(self) -> None:
        import uvicorn

        from mailroom.web.app import create_app

        s = self.ctx.settings
        config = uvicorn.Config(
            create_app(self.ctx),
            host=s.web_host,
            port=s.web_port,
            log_level="warning",
            lifespan="on",
        )
        self._web_server = uvicorn.Server(config)
        self._web_server.run()

    def _check_workers(self) -> None:
        from mailroom.cli.run import spawn_workers

        for i, proc in enumerate(self.procs):
            if not proc.is_alive() and not self.stop.is_set():
                log.warning(
                    "worker process %s exited with %s; starting a new one", proc.name, proc.exitcode
                )
                self.procs[i] = spawn_workers(self.ctx.settings, 1)[0]

    # -- lifecycle -----------------------------------------------------------------------

    def run(self, *, exit_when_idle: bool = False) -> None:
        from mailroom.cli.common import err_console
        from mailroom.cli.run import spawn_workers, wait_idle
        from mailroom.cli.status import LiveStatus, first_admin_hint
        from mailroom.runtime.processes import stop_on_signals

        s = self.ctx.settings
        stop_on_signals(self.stop)
        self.procs = spawn_workers(s, self.worker_count)
        self._start_thread("watchers", self._watchers)
        self._start_thread("retrain", self._retrainer)
        if self.web:
            self._start_thread("web", self._web)
        hint = first_admin_hint(self.ctx)
        err_console.print(
            f"mailroom läuft: {self.worker_count} Worker, "
            f"{len(self.ctx.scan_lines)} Scanstraßen, Daten unter {s.data_dir.resolve()}"
        )
        for line in self.ctx.scan_lines:
            err_console.print(f"  Scanstraße {line.id}: Dateien ablegen in {line.hot_folder}")
        if self.web:
            err_console.print(f"  Weboberfläche: http://{s.web_host}:{s.web_port}/")
        if hint:
            err_console.print(f"  {hint}")
        err_console.print("  Beenden mit Strg+C")
        live = LiveStatus(self.ctx) if self.live else None
        try:
            if live:
                live.start()
            while not self.stop.is_set():
                if exit_when_idle and wait_idle(self.ctx, timeout=0.1):
                    # Idle twice in a row, a few seconds apart: nothing is in flight.
                    time.sleep(3)
                    if wait_idle(self.ctx, timeout=0.1):
                        break
                self._check_workers()
                if live:
                    live.refresh()
                self.stop.wait(1.0)
        finally:
            if live:
                live.stop()
            self.shutdown()

    def shutdown(self) -> None:
        self.stop.set()
        if self._web_server is not None:
            self._web_server.should_exit = True
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: the worker finishes its document first
        for proc in self.procs:
            proc.join(timeout=60)
            if proc.is_alive():
                proc.kill()
        for thread in self.threads:
            thread.join(timeout=10)
