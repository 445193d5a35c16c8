"""``mailroom up`` takes scans in a watcher process of its own, apart from the web
application's, and starts a new one when that process dies."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select

from mailroom.infra.db.models import Document
from mailroom.runtime.context import AppContext
from mailroom.runtime.supervisor import Supervisor
from tests.bad_inputs import encoded, noise
from tests.conftest import make_settings

PATIENCE_SECONDS = 120.0
T = TypeVar("T")


def wait_until(check: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + PATIENCE_SECONDS
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {PATIENCE_SECONDS:.0f} s waiting for {what}")


def queued(ctx: AppContext, name: str) -> bool:
    with ctx.db.session() as session:
        state = session.scalar(select(Document.state).where(Document.source_name == name))
    return state == "queued"


def drop(hot: Path, name: str, seed: int) -> None:
    (hot / f".{name}.part").write_bytes(encoded(noise(300, 200, seed=seed), "PNG"))
    (hot / f".{name}.part").rename(hot / name)


def replaced(supervisor: Supervisor, dead: BaseProcess) -> BaseProcess | None:
    supervisor.check_watchers()
    proc = supervisor.watchers.proc
    return proc if proc is not None and proc is not dead and proc.is_alive() else None


def test_the_watchers_run_in_a_process_of_their_own_that_comes_back_when_it_dies(
    tmp_path: Path,
) -> None:
    ctx = AppContext.from_settings(make_settings(tmp_path / "data"), migrate=True)
    hot = ctx.scan_lines[0].hot_folder
    hot.mkdir(parents=True)
    supervisor = Supervisor(ctx, workers=0)
    try:
        supervisor.start_watchers()
        first = supervisor.watchers.proc
        assert first is not None and first.pid != os.getpid()
        drop(hot, "erster.png", seed=1)
        wait_until(lambda: queued(ctx, "erster.png"), "the first scan taken")
        assert not [t for t in threading.enumerate() if t.name.startswith("intake-")]

        os.kill(first.pid or 0, signal.SIGKILL)
        first.join(PATIENCE_SECONDS)
        second = wait_until(lambda: replaced(supervisor, first), "a new watcher process")
        drop(hot, "zweiter.png", seed=2)
        wait_until(lambda: queued(ctx, "zweiter.png"), "the second scan taken")
    finally:
        supervisor.shutdown()
        ctx.close()
    assert second.exitcode == 0  # stopped by SIGTERM, cleanly
