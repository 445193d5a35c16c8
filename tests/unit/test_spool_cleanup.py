"""Spool files left by a killed process are cleaned up; those of running processes stay.

Intake's copies and the worker's originals lie in ``<data dir>/spool`` under names that
carry the owning process (``intake-<pid>@<host>-…``). A real process is killed with
SIGKILL here, as the OOM killer would, and its file must go at the next cleanup.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from intake import spoolfiles, validate
from mailroom.runtime.context import AppContext
from mailroom.runtime.sweeper import Sweeper, clean_spool
from mailroom.runtime.watchers import run_watchers

DAY = 24 * 3600


def dead_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return int(proc.stdout)


def spool_file(spool: Path, name: str, *, age: float = 0.0, size: int = 10) -> Path:
    spool.mkdir(parents=True, exist_ok=True)
    path = spool / name
    path.write_bytes(b"x" * size)
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def owned(kind: str, pid: int, host: str | None = None, suffix: str = ".spool") -> str:
    return f"{kind}-{pid}@{host or spoolfiles.host_name()}-0123456789abcdef{suffix}"


def test_files_of_a_process_killed_with_sigkill_are_removed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    script = (
        "import os, signal, sys; from pathlib import Path; from intake import spoolfiles; "
        "fd, path = spoolfiles.create(Path(sys.argv[1]), 'intake', '.spool'); "
        "os.write(fd, b'half a scan'); os.kill(os.getpid(), signal.SIGKILL)"
    )
    killed = subprocess.Popen([sys.executable, "-c", script, str(spool)])
    assert killed.wait(60) == -signal.SIGKILL
    [left] = list(spool.iterdir())
    assert left.name.startswith(f"intake-{killed.pid}@{spoolfiles.host_name()}-")

    removed = spoolfiles.remove_leftovers(spool)

    assert removed == spoolfiles.Removed(files=1, bytes=len(b"half a scan"))
    assert list(spool.iterdir()) == []


def test_a_dead_pid_goes_and_running_processes_keep_theirs(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    dead = spool_file(spool, owned("worker", dead_pid(), suffix="-doc1.pdf"), size=100)
    parent = spool_file(spool, owned("intake", os.getppid()))  # a live process of ours
    init = spool_file(spool, owned("intake", 1))  # another user's: PermissionError or alive
    fd, mine = spoolfiles.create(spool, "intake", ".spool")
    os.close(fd)

    assert spoolfiles.remove_leftovers(spool) == spoolfiles.Removed(files=1, bytes=100)

    assert not dead.exists()
    assert parent.exists() and init.exists() and mine.exists()
    spoolfiles.release(mine)
    assert not mine.exists()


def test_a_file_of_this_pid_that_this_process_does_not_hold_goes(tmp_path: Path) -> None:
    # A restarted container's main process has the pid its killed predecessor had.
    spool = tmp_path / "spool"
    earlier = spool_file(spool, owned("worker", os.getpid(), suffix="-doc2.tif"))
    fd, held = spoolfiles.create(spool, "worker", "-doc3.tif")
    os.close(fd)

    assert spoolfiles.remove_leftovers(spool).files == 1

    assert not earlier.exists() and held.exists()
    spoolfiles.release(held)


def test_names_without_an_owner_go_only_after_a_day(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    fresh = spool_file(spool, "intake-k2j4h5g6.spool", age=3600)  # named before owners were
    old = spool_file(spool, "worker-3f2a-9b1c-x1y2.pdf", age=2 * DAY, size=7)
    elsewhere = spool_file(spool, owned("intake", dead_pid(), host="other.host"), age=3600)
    elsewhere_old = spool_file(spool, owned("intake", 4242, host="other_host"), age=2 * DAY)
    (spool / "a-folder").mkdir()

    removed = spoolfiles.remove_leftovers(spool)

    assert removed.files == 2
    assert fresh.exists() and elsewhere.exists()  # another host's pid says nothing here
    assert not old.exists() and not elsewhere_old.exists()
    assert (spool / "a-folder").is_dir()


def test_the_cleanup_logs_files_and_bytes_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert spoolfiles.remove_leftovers(tmp_path / "no-spool-yet") == spoolfiles.Removed()
    spool = tmp_path / "spool"
    spool_file(spool, owned("intake", dead_pid()), size=1500)
    spool_file(spool, owned("worker", dead_pid()), size=500)

    with caplog.at_level(logging.INFO, logger="intake.spoolfiles"):
        spoolfiles.remove_leftovers(spool)

    assert "removed 2 spool files (2,000 bytes)" in caplog.text


def test_intake_copies_are_named_after_this_process(tmp_path: Path) -> None:
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4 a scan")

    spooled = validate.spool(scan, tmp_path / "spool", max_bytes=1000)

    assert spooled.path.name.startswith(f"intake-{os.getpid()}@{spoolfiles.host_name()}-")
    assert spoolfiles.remove_leftovers(tmp_path / "spool").files == 0  # held: it stays
    spooled.discard()
    assert list((tmp_path / "spool").iterdir()) == []


def test_each_workers_sweeper_cleans_its_hosts_spool(ctx: AppContext) -> None:
    spool = ctx.settings.data_dir / "spool"
    left = spool_file(spool, owned("worker", dead_pid(), suffix="-doc4.pdf"))

    Sweeper(ctx).run()

    assert not left.exists()
    again = spool_file(spool, owned("worker", dead_pid()))
    Sweeper(ctx).run()  # a new sweeper cleans at its first sweep
    assert not again.exists()


def test_the_watchers_clean_the_spool_when_they_start(ctx: AppContext) -> None:
    left = clean_spool(ctx.settings)
    assert left.files == 0
    stale = spool_file(ctx.settings.data_dir / "spool", owned("intake", dead_pid()))
    stop = threading.Event()
    watching = threading.Thread(target=run_watchers, args=(ctx, stop), daemon=True)
    watching.start()
    try:
        deadline = time.monotonic() + 10
        while stale.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not stale.exists()
    finally:
        stop.set()
        watching.join(10)
