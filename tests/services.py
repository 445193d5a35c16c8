"""Real services for integration tests: PostgreSQL, RabbitMQ and an S3 server.

Under ``CI=true`` a missing service fails the test; on a developer's machine it skips with
the reason printed (``-ra`` shows it).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from benchmarks.drills import services as drill_services
from benchmarks.drills.services import PrivateS3, ServiceError

S3_ACCESS_KEY = drill_services.S3_ACCESS_KEY
S3_SECRET_KEY = drill_services.S3_SECRET_KEY
free_port = drill_services.free_port

PG_ADMIN_URL = os.environ.get(
    "MAILROOM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
AMQP_URL = os.environ.get("MAILROOM_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
#: The test S3 server's port; 0 (the default) takes a free one, so that two test sessions on
#: one machine never collide.
S3_PORT = int(os.environ.get("MAILROOM_TEST_S3_PORT", "0"))


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


class S3Server(PrivateS3):
    """``weed mini`` serving S3 on loopback (:class:`benchmarks.drills.services.PrivateS3`),
    with a missing or broken server reported as :func:`unavailable`."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, S3_PORT)

    def start(self) -> None:
        try:
            super().start()
        except ServiceError as exc:
            unavailable(f"the S3 server ({exc})")
