"""A drill that runs beside the rest of the test session: the 5-minute S3 outage.

It mostly waits (five minutes without an object store, then a few letters), so
``tests/conftest.py`` starts it when the session's tests are collected, and
``test_long_outage.py``, collected last, reads its outcome. Run alone, the test starts it
itself and waits the whole time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: Seconds the object store is away: longer than all attempts of a document together.
OUTAGE_SECONDS = 300
LETTERS = 3


class BackgroundDrill:
    """``python -m benchmarks.drills --drill s3_long_outage`` in a process of its own."""

    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="mailroom-long-outage-"))
        self.result_file = self.work / "outcome.json"
        self.log = self.work / "drill.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "benchmarks.drills", "--drill", "s3_long_outage",
            "--deployment", "services", "--letters", str(LETTERS),
            "--long-outage", str(OUTAGE_SECONDS), "--work", str(self.work / "run"),
            "--json", str(self.result_file),
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def outcome(self, timeout: float) -> tuple[dict[str, Any] | None, str]:
        """The drill's outcome (None if it wrote none) and its output."""
        assert self.process is not None
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
        output = self.log.read_text(errors="replace")
        if not self.result_file.exists():
            return None, output
        outcomes = json.loads(self.result_file.read_text())
        return (outcomes[0] if outcomes else None), output

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # it stops its services itself
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.work, ignore_errors=True)


#: The session's background drill, if ``tests/conftest.py`` started one.
running: BackgroundDrill | None = None
