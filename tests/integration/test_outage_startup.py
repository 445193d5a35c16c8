"""Processes started during an outage wait for it to end instead of exiting 75.

``mailroom worker``, ``watch`` and ``up`` run as a user starts them (``python -m mailroom``),
with PostgreSQL unreachable: first a closed port, then a database that appears only later.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mailroom.infra.db.database import Database
from tests import services

#: How long a test waits for a process to say something before it fails.
PATIENCE_SECONDS = 120.0
WAITING = "waiting for the database"


def start(command: list[str], data: Path, database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env.update(
        MAILROOM_DATA_DIR=str(data),
        MAILROOM_DATABASE_URL=database_url,
        MAILROOM_SERVICE_BACKOFF_MAX_SECONDS="2",
        OMP_THREAD_LIMIT="1",
    )
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mailroom", *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def wait_for(what: str, log: Path, proc: subprocess.Popen[bytes]) -> None:
    """Poll the process's output until ``what`` appears (or it exits, or time runs out)."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while what not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"exited {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {what!r} within {PATIENCE_SECONDS} s"
        time.sleep(0.2)


@pytest.fixture
def stopped() -> Iterator[Callable[[subprocess.Popen[bytes]], int]]:
    """Stops a process like a service manager (SIGTERM) and returns its exit code."""
    procs: list[subprocess.Popen[bytes]] = []

    def stop(proc: subprocess.Popen[bytes]) -> int:
        procs.append(proc)
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=PATIENCE_SECONDS)

    yield stop
    for proc in procs:
        _kill_group(proc)


COMMANDS = [["worker"], ["watch"], ["up", "--no-web", "--no-live", "--workers", "1"]]


def test_started_with_the_database_unreachable_they_keep_waiting(
    tmp_path: Path, stopped: Callable[[subprocess.Popen[bytes]], int]
) -> None:
    """``worker``, ``watch`` and ``up``, all started at once against a closed port."""
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{services.free_port()}/mailroom"
    started = []
    for index, command in enumerate(COMMANDS):
        log = tmp_path / f"out-{command[0]}.log"
        started.append((log, start(command, tmp_path / f"data-{index}", closed, log)))
    codes = []
    try:
        for log, proc in started:
            wait_for(WAITING, log, proc)
        time.sleep(10)
        for log, proc in started:  # still there, still waiting: no exit 75
            assert proc.poll() is None, f"exited {proc.returncode}:\n{log.read_text()}"
    finally:
        codes = [stopped(proc) for _, proc in started]
    for (log, _), code in zip(started, codes, strict=True):
        assert code == 0, log.read_text()
        assert log.read_text().count(WAITING) == 1  # said once, not on every try


def test_a_worker_waits_for_its_database_and_then_consumes(
    tmp_path: Path, pg_url: str, stopped: Callable[[subprocess.Popen[bytes]], int]
) -> None:
    db = Database(pg_url)
    db.upgrade()
    db.dispose()  # no session may stay on it: a database in use cannot be renamed
    later = pg_url + "_later"  # no such database yet: PostgreSQL refuses the connection
    log = tmp_path / "out.log"
    proc = start(["worker"], tmp_path / "data", later, log)
    try:
        wait_for(WAITING, log, proc)
        with renamed(pg_url, later):  # the database appears, migrated, all at once
            wait_for("answers again", log, proc)
            wait_for("consuming", log, proc)
            code = stopped(proc)
    finally:
        _kill_group(proc)
    assert code == 0, log.read_text()


@contextmanager
def renamed(url: str, to: str) -> Iterator[None]:
    """The database of ``url`` under the name of ``to`` for a while (then back, for the
    fixture to drop it)."""
    _rename(url, to)
    try:
        yield
    finally:
        _rename(to, url)


def _rename(url: str, to: str) -> None:
    admin = create_engine(services.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            old, new = url.rsplit("/", 1)[1], to.rsplit("/", 1)[1]
            conn.execute(text(f'ALTER DATABASE "{old}" RENAME TO "{new}"'))
    finally:
        admin.dispose()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process and its children (started in a session of their own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    proc.wait()
