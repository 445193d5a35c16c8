"""A deployment under drill: the services it runs on and ``mailroom up`` processes on them.

Two deployments: the embedded default (SQLite, the filesystem queue and object store, no
server at all) and the production one on private RabbitMQ + PostgreSQL + S3 instances
(:mod:`benchmarks.drills.services`). Each drill starts its own ``mailroom up`` (two worker
processes and the watcher process, as a city would run it) in a fresh data folder,
database, queue and bucket, and looks at the result the way an operator would: the
database, the object store, the queue and the hot folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.drills.services import (
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    PrivatePostgres,
    PrivateRabbitMQ,
    PrivateS3,
    ServiceError,
)
from config.settings import Settings

#: Seconds ``mailroom up`` may take until its workers consume and its watcher watches.
READY_SECONDS = 120.0
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Deployment:
    """Where the drills' ``mailroom`` runs: ``embedded`` or on private ``services``."""

    kind: str
    work: Path
    rabbitmq: PrivateRabbitMQ | None = None
    postgres: PrivatePostgres | None = None
    s3: PrivateS3 | None = None
    servers: Path | None = None  # the services' data, removed by close()

    @classmethod
    def embedded(cls, work: Path) -> Deployment:
        return cls("embedded", work)

    @classmethod
    def services(cls, work: Path) -> Deployment:
        """Start private RabbitMQ, PostgreSQL and S3 side by side (in parallel).

        Their data lives in a folder of its own under the system's temporary folder,
        open to the ``rabbitmq`` and ``postgres`` users (a test's temporary folder is
        private to root); :meth:`close` removes it.
        """
        work.mkdir(parents=True, exist_ok=True)
        servers = Path(tempfile.mkdtemp(prefix="mailroom-drill-servers-"))
        os.chmod(servers, 0o755)  # the servers' own users must reach their folders
        deployment = cls(
            "services",
            work,
            PrivateRabbitMQ(servers / "rabbitmq"),
            PrivatePostgres(servers / "postgres"),
            PrivateS3(servers / "s3"),
            servers,
        )
        parts = [deployment.rabbitmq, deployment.postgres, deployment.s3]
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(part.start) for part in parts if part is not None]
            errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            deployment.close()
            raise ServiceError("; ".join(str(e) for e in errors))
        return deployment

    def config(self, tag: str) -> dict[str, str]:
        """The ``MAILROOM_*`` settings (without the prefix) of one drill's ``mailroom``."""
        values = {
            "data_dir": str(self.work / tag / "data"),
            "intake_stable_seconds": "0.5",
            "intake_poll_seconds": "0.3",
            "log_level": "INFO",
        }
        if self.kind == "services":
            assert self.rabbitmq and self.postgres and self.s3
            values |= {
                "database_url": self.postgres.create_database(f"drill_{tag}"),
                "broker_url": self.rabbitmq.url,
                "queue_name": f"mailroom.drill.{tag}",
                "s3_endpoint": self.s3.endpoint,
                "s3_access_key": S3_ACCESS_KEY,
                "s3_secret_key": S3_SECRET_KEY,
                "s3_bucket": f"drill-{tag}".replace("_", "-"),
            }
        return values

    def close(self) -> None:
        for part in (self.rabbitmq, self.postgres, self.s3):
            if part is not None:
                try:
                    part.stop()
                except Exception as exc:
                    print(f"drills: could not stop {type(part).__name__}: {exc}", file=sys.stderr)
        if self.servers is not None:
            shutil.rmtree(self.servers, ignore_errors=True)


@dataclass
class Mailroom:
    """One ``mailroom up`` (no web server, no live view) and what it left behind."""

    deployment: Deployment
    tag: str
    workers: int = 2
    overrides: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ("up", "--no-web", "--no-live")
    values: dict[str, str] = field(init=False)
    process: subprocess.Popen[bytes] | None = field(init=False, default=None)
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.values = self.deployment.config(self.tag) | self.overrides
        Path(self.values["data_dir"]).mkdir(parents=True, exist_ok=True)
        self.log_path = self.deployment.work / self.tag / "mailroom.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)

    # -- configuration -------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
        env |= {f"MAILROOM_{k.upper()}": v for k, v in self.values.items()}
        env["PYTHONPATH"] = str(ROOT)
        env["COLUMNS"] = "300"  # log lines unwrapped: the drills read them
        return env

    def settings(self) -> Settings:
        return Settings(**self.values)  # type: ignore[arg-type]

    @property
    def hot_folder(self) -> Path:
        return Path(self.values["data_dir"]) / "scanlines" / "scan-1"

    # -- the processes -------------------------------------------------------------------

    def migrate(self) -> None:
        """Production migrates once, before the processes start (compose: ``migrate``);
        embedded, ``mailroom up`` migrates its SQLite database itself."""
        if self.deployment.kind != "services":
            return
        code, output, _ = run_cli(self, "db", "upgrade", timeout=120)
        if code != 0:
            raise ServiceError(f"mailroom db upgrade failed: {output.strip()[-500:]}")

    def start(self, *, wait: bool = True) -> None:
        """Start ``mailroom up`` through :mod:`benchmarks.drills.launch` (which can make
        chosen letters poison for the worker) and wait until it is ready."""
        command = [sys.executable, "-m", "benchmarks.drills.launch", *self.command]
        if self.command[0] == "up":
            command += ["--workers", str(self.workers)]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = READY_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()
            if text.count(" consuming ") >= self.workers and "watching" in text:
                time.sleep(0.5)  # the first polls
                return
            if self.process is not None and self.process.poll() is not None:
                raise ServiceError(f"mailroom exited at start; see {self.log_path}")
            time.sleep(0.2)
        raise ServiceError(f"mailroom not ready within {timeout:.0f} s; see {self.log_path}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def descendants(self) -> dict[int, str]:
        """Process id -> name (``mr-worker-1``, ``mr-watchers``) of everything it runs."""
        if self.process is None:
            return {}
        children: dict[int, list[int]] = {}
        names: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
            names[int(entry.name)] = name
        found: dict[int, str] = {}
        todo = [self.process.pid]
        while todo:
            pid = todo.pop()
            for child in children.get(pid, []):
                found[child] = names[child]
                todo.append(child)
        return found

    def pids(self, prefix: str) -> list[int]:
        return sorted(p for p, n in self.descendants().items() if n.startswith(prefix))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def died(self) -> dict[str, int]:
        """Processes that exited although nobody killed them, from the supervisor's log."""
        text = self.log()
        return {
            "worker": len(re.findall(r"worker process \S+ exited with (?!-9\b)", text)),
            "watcher": len(re.findall(r"the watcher process exited with (?!-9\b)", text)),
            "supervisor": 0 if self.alive() else 1,
        }

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=90)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever it left running
        self.process.wait(timeout=30)


def run_cli(mailroom: Mailroom, *args: str, timeout: float = 60) -> tuple[int, str, float]:
    """Run one ``mailroom`` command against the drill's configuration:
    (exit code, output, seconds)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mailroom", *args],
        env=mailroom.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started
