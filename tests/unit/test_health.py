"""The service monitor remembers since when a service is unreachable, and never hangs.

Its probes are stand-ins with the product's own interface (:class:`Probes`): a switch that
refuses while it is off, and a call that blocks like a frozen process (``kill -STOP``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mailroom.core.errors import BrokerUnavailable
from mailroom.services.health import DOWN, OK, HealthMonitor, Probes, unreachable_text

#: Generous margins: the machine may be busy with other tests.
SLACK_SECONDS = 5.0


class Switch:
    """A service that refuses while ``down`` is set, and answers otherwise."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down

    def __call__(self) -> dict[str, int]:
        if self.down:
            raise BrokerUnavailable("connection refused")
        return {"waiting": 3, "dead": 1}


class Frozen:
    """A service that accepted the connection and never answers, until released."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        self.released.wait()
        return True


def answers() -> bool:
    return True


@pytest.fixture
def frozen() -> Iterator[Frozen]:
    service = Frozen()
    yield service
    service.released.set()  # the probe's thread ends


def test_an_unreachable_service_is_reported_since_it_was_first_seen_and_cleared_on_recovery():
    broker = Switch(down=True)
    monitor = HealthMonitor(Probes(answers, broker, answers))

    first = monitor.check()
    assert first.services == {"database": OK, "broker": DOWN, "object_store": OK}
    since = first.since["broker"]
    assert monitor.check().since["broker"] == since  # still the first sighting
    assert monitor.current.problems() == [unreachable_text("broker", since)]
    assert monitor.current.queue == {"waiting": None, "dead": None}

    broker.down = False
    recovered = monitor.check()

    assert recovered.services["broker"] == OK and recovered.since == {}
    assert recovered.problems() == []
    assert recovered.queue == {"waiting": 3, "dead": 1}


def test_a_frozen_service_costs_one_deadline_per_round_and_one_thread(frozen: Frozen):
    monitor = HealthMonitor(Probes(answers, Switch(), frozen), deadline=0.5)

    for _ in range(3):
        started = time.monotonic()
        health = monitor.check()
        assert time.monotonic() - started < 0.5 + SLACK_SECONDS
        assert health.down("object_store") and not health.down("database")

    assert frozen.calls == 1  # the probe still waiting is waited for, not started again
    frozen.released.set()
    assert monitor.check().services["object_store"] == OK


def test_a_probe_that_fails_unexpectedly_counts_as_unreachable():
    def broken() -> object:
        raise RuntimeError("a bug in the probe")

    health = HealthMonitor(Probes(broken, Switch(), answers)).check()

    assert health.down("database")
    assert health.problems()[0].startswith("Datenbank nicht erreichbar seit ")


def test_the_monitor_asks_at_once_and_then_every_interval():
    broker = Switch(down=True)
    monitor = HealthMonitor(Probes(answers, broker, answers), interval=0.2)
    monitor.start()
    try:
        wait_until(lambda: monitor.current.down("broker"))
        broker.down = False
        wait_until(lambda: not monitor.current.down("broker"))
    finally:
        monitor.stop()


def test_the_time_is_local_and_dated_when_not_today():
    since = datetime(2026, 3, 2, 23, 42, tzinfo=UTC)
    local = since.astimezone()

    same_day = unreachable_text("broker", since, now=since + timedelta(minutes=5))
    next_week = unreachable_text("object_store", since, now=since + timedelta(days=7))

    assert same_day == f"Broker nicht erreichbar seit {local:%H:%M}"
    assert next_week == f"Objektspeicher nicht erreichbar seit {local:%d.%m. %H:%M}"
    assert unreachable_text("database", None) == "Datenbank nicht erreichbar"


def wait_until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the monitor did not notice in time"
        time.sleep(0.05)
