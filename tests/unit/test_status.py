"""``mailroom status`` when services are down or frozen: it answers from the database.

The broker and the object store are real endpoints that fail: a closed port (connection
refused at once) and a silent one (accepts and never answers, like a frozen process). The
command runs in-process, so the time measured is the command's own, not Python's start.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from mailroom.cli import app
from mailroom.core.errors import ExitCode
from mailroom.runtime.context import AppContext
from tests.conftest import make_settings
from tests.factories import make_document
from tests.services import free_port

#: What status may take with a service down: its probes give up after 3 s.
ANSWER_SECONDS = 8.0


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word: a frozen service."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # the kernel completes the handshakes; nobody ever reads
        yield int(sock.getsockname()[1])
    # Closing the socket resets the waiting connections: the probes left behind end.


def prepared(data: Path, **services: object) -> None:
    """A migrated database with one document, for settings pointing at ``services``."""
    ctx = AppContext.from_settings(make_settings(data, **services), migrate=True)
    make_document(ctx, department_id=None, state="failed", reason="kaputt")
    ctx.close()


def status(data: Path, *args: str, **env: str) -> tuple[Result, float]:
    """Run ``mailroom status`` in-process; return its result and how long it took."""
    variables = {"MAILROOM_DATA_DIR": str(data), **{f"MAILROOM_{k}": v for k, v in env.items()}}
    started = time.monotonic()
    result = CliRunner().invoke(app, ["status", *args], env=variables)
    return result, time.monotonic() - started


def test_status_with_the_broker_on_a_closed_port_answers_at_once_and_says_so(
    tmp_path: Path,
) -> None:
    broker = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    prepared(tmp_path / "data", broker_url=broker)

    result, seconds = status(tmp_path / "data", BROKER_URL=broker)

    assert result.exit_code == 0, result.output
    assert seconds < ANSWER_SECONDS
    assert "Broker nicht erreichbar" in result.output
    assert "Objektspeicher" not in result.output and "Datenbank" not in result.output
    assert "failed: 1" in result.output  # the answer from the database


def test_status_with_broker_and_object_store_frozen_answers_within_seconds_in_json(
    tmp_path: Path,
) -> None:
    with silent_port() as broker_port, silent_port() as s3_port:
        broker = f"amqp://guest:guest@127.0.0.1:{broker_port}//"
        s3 = {"S3_ENDPOINT": f"127.0.0.1:{s3_port}", "S3_ACCESS_KEY": "k", "S3_SECRET_KEY": "s"}
        prepared(tmp_path / "data")

        result, seconds = status(tmp_path / "data", "--json", BROKER_URL=broker, **s3)

    assert result.exit_code == 0, result.output
    assert seconds < ANSWER_SECONDS
    data = json.loads(result.stdout)
    assert data["services"] == {
        "database": "ok",
        "broker": "unreachable",
        "object_store": "unreachable",
    }
    assert data["states"] == {"failed": 1}
    assert data["queue"] == {"waiting": None, "dead": None}


def test_status_with_every_service_up_says_nothing_about_them(tmp_path: Path) -> None:
    prepared(tmp_path / "data")

    result, _ = status(tmp_path / "data", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["services"].values()) == {"ok"}
    assert data["queue"] == {"waiting": 0, "dead": 0}


@pytest.mark.parametrize("as_json", [False, True])
def test_status_without_the_database_exits_75_and_says_so(tmp_path: Path, as_json: bool) -> None:
    database = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mailroom"

    result, seconds = status(
        tmp_path / "data", *(["--json"] if as_json else []), DATABASE_URL=database
    )

    assert result.exit_code == ExitCode.TEMPFAIL, result.output
    assert seconds < ANSWER_SECONDS
    if as_json:
        assert json.loads(result.stdout)["services"]["database"] == "unreachable"
    else:
        assert "Datenbank nicht erreichbar" in result.output
        assert "Broker" not in result.output
