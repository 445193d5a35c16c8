"""The Leitstand says which service is unreachable and since when, without hanging.

The web application's monitor probes the real services of its context; here the broker
and the database are real endpoints on a closed port (nothing listens: connection refused
at once), and the object store is a probe that blocks like a frozen process. The page
reads the monitor's last answer and never waits for a service itself.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from mailroom.infra.db.database import Database
from mailroom.runtime.context import AppContext
from mailroom.services.health import HealthMonitor, Probes, ping_database
from mailroom.web.app import create_app
from tests.conftest import make_settings
from tests.factories import make_document
from tests.services import free_port
from tests.unit.test_health import Frozen, Switch, answers
from tests.web_helpers import login, seed_users

#: How long the page may take while a service is down or frozen (it never asks one).
PAGE_SECONDS = 10.0
#: How long a test waits for the monitor to notice (it asks every few seconds).
NOTICE_SECONDS = 30.0


def closed_database() -> Database:
    return Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mailroom")


def probes_of(ctx: AppContext) -> Probes:
    return Probes.of(ctx.settings, ctx.db, ctx.queue, ctx.store)


@pytest.fixture
def app_ctx(ctx: AppContext) -> AppContext:
    seed_users(ctx)
    make_document(ctx, department_id=None, state="failed", reason="kaputt")
    return ctx


@pytest.fixture
def broker_down_ctx(tmp_path: Path) -> Iterator[AppContext]:
    """Settings whose broker is a closed port; the database and the store are fine."""
    broker = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    ctx = AppContext.from_settings(
        make_settings(tmp_path / "data", broker_url=broker), migrate=True
    )
    seed_users(ctx)
    yield ctx
    ctx.close()


@pytest.fixture
def frozen() -> Iterator[Frozen]:
    service = Frozen()
    yield service
    service.released.set()


def serving(ctx: AppContext, monitor: HealthMonitor | None = None) -> TestClient:
    """A client of the app, its lifespan (and so its monitor) running; logged in."""
    client = TestClient(create_app(ctx, health=monitor), raise_server_exceptions=False)
    client.__enter__()
    login(client, "leitstand")
    return client


@pytest.fixture
def clients() -> Iterator[list[TestClient]]:
    started: list[TestClient] = []
    yield started
    for client in started:
        client.__exit__(None, None, None)


def timed_get(client: TestClient, path: str) -> Response:
    started = time.monotonic()
    response = client.get(path, follow_redirects=False)
    assert time.monotonic() - started < PAGE_SECONDS, f"{path} took too long"
    return response


def poll(client: TestClient, path: str, until: Callable[[str], bool]) -> str:
    """Fetch the page until ``until`` holds for it (each fetch within its deadline)."""
    deadline = time.monotonic() + NOTICE_SECONDS
    while True:
        response = timed_get(client, path)
        assert response.status_code == 200, response.text
        if until(response.text):
            return response.text
        assert time.monotonic() < deadline, f"not seen on {path} in time:\n{response.text}"
        time.sleep(0.2)


def test_the_leitstand_says_since_when_the_broker_is_unreachable(
    broker_down_ctx: AppContext, clients: list[TestClient]
) -> None:
    client = serving(broker_down_ctx)  # the app's own monitor, on the real (closed) broker
    clients.append(client)

    for path in ("/leitstand", "/leitstand/live"):
        page = poll(client, path, lambda text: "Broker nicht erreichbar seit" in text)
        assert 'id="scan-lines"' in page  # the database answers: the counts are there
        assert "Warteschlange: unbekannt" in page
        assert "Datenbank nicht" not in page and "Objektspeicher nicht" not in page

    since = client.app.state.health.current.since["broker"]  # type: ignore[attr-defined]
    assert f"Broker nicht erreichbar seit {since.astimezone():%H:%M}" in page


def test_with_the_object_store_frozen_the_page_answers_and_says_so(
    app_ctx: AppContext, frozen: Frozen, clients: list[TestClient]
) -> None:
    probes = dataclasses.replace(probes_of(app_ctx), object_store=frozen)
    client = serving(app_ctx, HealthMonitor(probes, interval=0.5, deadline=1.0))
    clients.append(client)

    page = poll(client, "/leitstand/live", lambda text: "Objektspeicher nicht erreichbar" in text)

    assert "Objektspeicher nicht erreichbar seit" in page and 'id="failed"' in page
    assert "Warteschlange: 0" in page  # the embedded broker answers
    assert timed_get(client, "/leitstand").status_code == 200  # and again, while frozen


def test_the_banner_goes_once_the_service_is_back(
    app_ctx: AppContext, clients: list[TestClient]
) -> None:
    broker = Switch(down=True)
    probes = Probes(answers, broker, answers)
    client = serving(app_ctx, HealthMonitor(probes, interval=0.2, deadline=1.0))
    clients.append(client)
    poll(client, "/leitstand/live", lambda text: "Broker nicht erreichbar seit" in text)

    broker.down = False

    page = poll(client, "/leitstand/live", lambda text: "nicht erreichbar" not in text)
    assert "Warteschlange: 3" in page and "Dead-Letter: 1" in page


def test_without_the_database_the_leitstand_shows_the_banner_and_no_counts(
    app_ctx: AppContext, clients: list[TestClient]
) -> None:
    probes = dataclasses.replace(
        probes_of(app_ctx), database=lambda: ping_database(closed_database())
    )
    client = serving(app_ctx, HealthMonitor(probes, interval=0.5))
    clients.append(client)

    for path in ("/leitstand", "/leitstand/live"):
        page = poll(client, path, lambda text: "Datenbank nicht erreichbar seit" in text)
        assert 'id="scan-lines"' not in page and 'id="failed"' not in page
        assert "keine Zahlen" in page and "Alle erneut verarbeiten" not in page

    anonymous = TestClient(client.app)
    assert anonymous.get("/leitstand", follow_redirects=False).status_code == 303  # log in


def test_a_database_gone_before_the_monitor_noticed_still_renders_the_banner(
    app_ctx: AppContext, clients: list[TestClient]
) -> None:
    client = serving(app_ctx, HealthMonitor(Probes(answers, Switch(), answers)))
    clients.append(client)
    working, app_ctx.db = app_ctx.db, closed_database()  # the requests' sessions fail now
    try:
        for path in ("/leitstand", "/leitstand/live"):
            response = timed_get(client, path)
            assert response.status_code == 200, response.text
            assert "Datenbank nicht erreichbar" in response.text
            assert 'id="scan-lines"' not in response.text
    finally:
        app_ctx.db.dispose()
        app_ctx.db = working
