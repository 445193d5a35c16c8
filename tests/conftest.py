"""Shared fixtures: embedded settings, an app context, and the real services."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import CONFIG_DIR, Settings
from mailroom.runtime.context import AppContext
from tests import services

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

FILE_PLAN = CONFIG_DIR / "fileplan.yaml"


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Embedded settings with short timings, ignoring the developer's MAILROOM_* variables."""
    values: dict[str, object] = {
        "data_dir": data_dir,
        "intake_stable_seconds": 0.3,
        "intake_poll_seconds": 0.2,
        "sweep_interval_seconds": 1.0,
        "retry_backoff_seconds": 0.2,
        "workers": 1,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.fixture(autouse=True)
def _clean_mailroom_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("MAILROOM_") and not key.startswith("MAILROOM_TEST_"):
            monkeypatch.delenv(key)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    context = AppContext.from_settings(settings)
    yield context
    context.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test."""
    with services.fresh_postgres_database() as url:
        yield url


@pytest.fixture
def amqp_url() -> Iterator[str]:
    yield services.require_rabbitmq()


@pytest.fixture
def amqp_queue_name(amqp_url: str) -> Iterator[str]:
    name = f"mailroom.test.{uuid.uuid4().hex[:10]}"
    yield name
    services.delete_amqp_queues(name, name + ".dead")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[services.S3Server]:
    server = services.S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_settings(s3_server: services.S3Server) -> dict[str, object]:
    """Settings overrides pointing at the test S3 server, with a bucket of its own."""
    return {
        "s3_endpoint": s3_server.endpoint,
        "s3_access_key": services.S3_ACCESS_KEY,
        "s3_secret_key": services.S3_SECRET_KEY,
        "s3_bucket": f"mailroom-test-{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture
def production_settings(
    tmp_path: Path, pg_url: str, amqp_queue_name: str, s3_settings: dict[str, object]
) -> Settings:
    """The real services: PostgreSQL, RabbitMQ and S3 (the database is not yet migrated)."""
    return make_settings(
        tmp_path / "data",
        database_url=pg_url,
        broker_url=services.AMQP_URL,
        queue_name=amqp_queue_name,
        **s3_settings,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def web_ctx(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppContext]:
    """An application context with the web tests' users, on SQLite and on PostgreSQL."""
    from tests.web_helpers import seed_users

    overrides: dict[str, object] = {}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("pg_url")
    ctx = AppContext.from_settings(make_settings(tmp_path / "data", **overrides), migrate=True)
    seed_users(ctx)
    yield ctx
    ctx.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by folder: ``integration`` (real servers, other processes), ``browser``,
    ``drills``. The fault drills run last; the long one (a 5-minute S3 outage) starts in
    the background now and is read at the end (:mod:`tests.drills.background`)."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts:
            item.add_marker(pytest.mark.integration)
        elif "browser" in parts:
            item.add_marker(pytest.mark.browser)
        elif "drills" in parts:
            item.add_marker(pytest.mark.drills)
    items.sort(key=lambda item: "drills" in Path(str(item.fspath)).parts)  # stable
    long_outage = any(Path(str(i.fspath)).name == "test_long_outage.py" for i in items)
    if long_outage and not config.option.collectonly and len(items) > 1:
        from tests.drills import background

        background.running = background.BackgroundDrill()
        background.running.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    from tests.drills import background

    if background.running is not None:
        background.running.close()
        background.running = None
