"""Whether the services answer (Dienstzustand): the database, the broker, the object store.

Every probe runs in a daemon thread of its own and has a deadline: a service that refuses
the connection costs nothing, one that hangs (a frozen process, ``kill -STOP``) costs its
deadline, and a thread left waiting never keeps the process alive. ``mailroom status``
asks once (:func:`ask`); the web application keeps a :class:`HealthMonitor` that asks
every few seconds and remembers since when a service has been unreachable, so the
Leitstand shows the monitor's last answer ("Broker nicht erreichbar seit 00:42") and never
waits for a service itself.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import text

from config.settings import Settings
from mailroom.core.errors import MailroomError
from mailroom.infra.db.database import Database
from mailroom.infra.db.models import utcnow
from mailroom.infra.objects import ObjectStore, open_object_store
from mailroom.infra.queue import DocumentQueue

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The services, in the order they are reported.
SERVICES = ("database", "broker", "object_store")
#: What is said of a service that did not answer in time.
UNREACHABLE = {
    "database": "Datenbank nicht erreichbar",
    "broker": "Broker nicht erreichbar",
    "object_store": "Objektspeicher nicht erreichbar",
}
OK, DOWN = "ok", "unreachable"
#: How long a probe may take before its service counts as unreachable (down, or frozen).
PROBE_SECONDS = 3.0
#: How often the web application's monitor asks.
MONITOR_INTERVAL_SECONDS = 4.0
#: The key the object-store probe looks up (never written).
PROBE_KEY = "status/probe"
#: The failures that mean "no answer" to :func:`answer`; anything else is a bug and raises.
SERVICE_ERRORS: tuple[type[BaseException], ...] = (TimeoutError, MailroomError, OSError)


# -- asking, with a deadline ---------------------------------------------------------------


def in_background(call: Callable[[], T], name: str = "health-probe") -> Future[T]:
    """Run ``call`` in a daemon thread: one that hangs never keeps the process alive."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def answer(
    future: Future[T],
    deadline: float,
    *,
    failures: tuple[type[BaseException], ...] = SERVICE_ERRORS,
) -> T | None:
    """The call's result, or None if it failed on a service or missed the (monotonic)
    deadline."""
    try:
        return future.result(timeout=max(0.0, deadline - time.monotonic()))
    except failures:
        return None


def ask(
    calls: Mapping[str, Callable[[], Any]], deadlines: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Ask every service at once, each within its deadline (seconds, default
    :data:`PROBE_SECONDS`); None for a service that did not answer."""
    started = time.monotonic()
    futures = {name: in_background(call, f"probe-{name}") for name, call in calls.items()}
    limits = deadlines or {}
    return {
        name: answer(future, started + limits.get(name, PROBE_SECONDS))
        for name, future in futures.items()
    }


# -- the probes ----------------------------------------------------------------------------


def ping_database(db: Database) -> bool:
    """One ``SELECT 1``; raises :class:`DatabaseUnavailable` if the database is away."""
    with db.session() as session:
        session.execute(text("SELECT 1"))
    return True


def queue_depths(queue: DocumentQueue) -> dict[str, int]:
    """Messages waiting in the document queue and in the dead-letter queue."""
    if queue.amqp:  # a refused connection fails at once; kombu would retry it for 10 s
        connect(queue.settings.queue_url, default_port=5672)
    waiting, dead = queue.depth(), queue.depth(dead=True)
    if waiting is None or dead is None:
        raise OSError("the broker did not answer")
    return {"waiting": waiting, "dead": dead}


def store_answers(settings: Settings, store: ObjectStore | None = None) -> bool:
    """Whether the object store answers: ``store`` looks up :data:`PROBE_KEY`; without one,
    the store is opened (for S3 that checks the bucket)."""
    if settings.s3_endpoint:  # as for the broker: the S3 client retries a refused connection
        secure = settings.s3_secure or settings.s3_endpoint.startswith("https://")
        connect(settings.s3_endpoint, default_port=443 if secure else 80)
    if store is None:
        open_object_store(settings)
    else:
        store.exists(PROBE_KEY)
    return True


def connect(address: str, *, default_port: int) -> None:
    """Open and close a TCP connection to the service; raises OSError if it is refused."""
    url = urlsplit(address if "://" in address else f"tcp://{address}")
    where = (url.hostname or "localhost", url.port or default_port)
    socket.create_connection(where, timeout=PROBE_SECONDS).close()


@dataclass(frozen=True)
class Probes:
    """One call per service: it returns (anything but None) if the service answered."""

    database: Callable[[], object]
    broker: Callable[[], dict[str, int]]
    object_store: Callable[[], object]

    @classmethod
    def of(
        cls, settings: Settings, db: Database, queue: DocumentQueue, store: ObjectStore
    ) -> Probes:
        """The probes of a running process's services."""
        return cls(
            database=lambda: ping_database(db),
            broker=lambda: queue_depths(queue),
            object_store=lambda: store_answers(settings, store),
        )

    def calls(self) -> dict[str, Callable[[], object]]:
        return {"database": self.database, "broker": self.broker, "object_store": self.object_store}


# -- what was seen -------------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    """The services as last seen: ``services`` maps each to :data:`OK` or :data:`DOWN`
    (empty before the first check), ``since`` when one was first seen unreachable (UTC)."""

    checked_at: datetime | None = None
    services: Mapping[str, str] = field(default_factory=dict)
    since: Mapping[str, datetime] = field(default_factory=dict)
    queue: Mapping[str, int | None] = field(default_factory=lambda: {"waiting": None, "dead": None})

    def down(self, name: str) -> bool:
        return self.services.get(name) == DOWN

    def problems(self) -> list[str]:
        """One German line per unreachable service: "Broker nicht erreichbar seit 00:42"."""
        return [
            unreachable_text(name, self.since.get(name)) for name in SERVICES if self.down(name)
        ]

    def with_down(self, name: str) -> Health:
        """This view, with ``name`` found unreachable just now (by a caller, not a probe)."""
        return Health(
            self.checked_at,
            {**self.services, name: DOWN},
            {name: utcnow(), **self.since},
            self.queue,
        )


def unreachable_text(name: str, since: datetime | None, now: datetime | None = None) -> str:
    """What is unreachable since when ("Datenbank nicht erreichbar seit 00:42"), in local
    time as the web pages show times, with the date if it was not today."""
    if since is None:
        return UNREACHABLE[name]
    local, today = since.astimezone(), (now or utcnow()).astimezone().date()
    when = local.strftime("%H:%M" if local.date() == today else "%d.%m. %H:%M")
    return f"{UNREACHABLE[name]} seit {when}"


class HealthMonitor:
    """Asks the services every ``interval`` seconds in a daemon thread of its own.

    A probe still running from an earlier round (its service is frozen) is waited for
    again instead of started anew, so a frozen service holds one thread, not one per round.
    Any failure of a probe counts as unreachable; the monitor itself never dies of it.
    """

    def __init__(
        self,
        probes: Probes,
        *,
        interval: float = MONITOR_INTERVAL_SECONDS,
        deadline: float = PROBE_SECONDS,
    ) -> None:
        self.probes = probes
        self.interval = interval
        self.deadline = deadline
        self._current = Health()
        self._since: dict[str, datetime] = {}
        self._pending: dict[str, Future[object]] = {}
        self._round = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> Health:
        """The last round's answer (nothing known before the first)."""
        return self._current

    def check(self) -> Health:
        """One round: ask every service within the deadline and remember the answer."""
        with self._round:
            started, began = time.monotonic(), utcnow()
            for name, call in self.probes.calls().items():
                pending = self._pending.get(name)
                if pending is None or pending.done():
                    self._pending[name] = in_background(call, f"health-{name}")
            answers = {
                name: answer(future, started + self.deadline, failures=(Exception,))
                for name, future in self._pending.items()
            }
            for name, value in answers.items():
                self._note(name, value is not None, began, _why(self._pending[name]))
            depths = answers.get("broker")
            queue = depths if isinstance(depths, dict) else {}
            self._current = Health(
                checked_at=began,
                services={name: OK if answers[name] is not None else DOWN for name in answers},
                since=dict(self._since),
                queue={"waiting": None, "dead": None, **queue},
            )
            return self._current

    def _note(self, name: str, answered: bool, when: datetime, why: str) -> None:
        if answered and self._since.pop(name, None) is not None:
            log.info("%s answers again", name)
        elif not answered and name not in self._since:
            self._since[name] = when
            log.warning("%s unreachable: %s", name, why or f"no answer within {self.deadline} s")

    def start(self) -> None:
        """Start asking (the first round at once); a no-op if it runs already."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="health-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop asking; a round under way may finish in the background."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.deadline + 1)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # never let the monitor die: the Leitstand would go blind
                log.exception("health check failed")
            self._stop.wait(self.interval)


def _why(future: Future[object]) -> str:
    """What a finished probe failed with ("" while it still waits, or if it answered)."""
    if not future.done() or future.exception() is None:
        return ""
    return f"{type(future.exception()).__name__}: {future.exception()}"
