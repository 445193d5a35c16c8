"""Starting while a service is down: wait for it instead of exiting.

``mailroom worker``, ``watch`` and ``up`` need the database and the object store before they
can do anything. Started during an outage they used to exit 75 within seconds, and a
service manager restarting them made a crash loop. Now they say once what they wait for
and try again by ``settings.service_backoff`` (at most ``service_backoff_max_seconds``
apart), so they start within that time of the service's return, or end when told to stop.
"""

from __future__ import annotations

import logging
import threading
import time

from config.settings import Settings
from mailroom.core.backoff import Backoff
from mailroom.core.errors import (
    BrokerUnavailable,
    DatabaseUnavailable,
    SchemaNotCurrent,
    StorageUnavailable,
    TransientError,
)
from mailroom.runtime.context import AppContext

log = logging.getLogger(__name__)


def open_context(
    settings: Settings, stop: threading.Event, *, migrate: bool | None = None
) -> AppContext | None:
    """The application context, once the services it needs answer; None if stopped first.

    Unavailable services are waited for, and so is a database schema that is not yet
    this version's (the compose file's ``migrate`` service may still be running; an
    operator who forgot ``mailroom db upgrade`` reads so in the log). Any other wrong
    configuration raises at once.
    """
    waiting = _Waiting(settings)
    while True:
        try:
            ctx = AppContext.from_settings(settings, migrate=migrate)
        except (TransientError, SchemaNotCurrent) as exc:
            if stop.wait(waiting.failed(exc)):
                return None
            continue
        waiting.ended()
        return ctx


def service_of(exc: TransientError | SchemaNotCurrent) -> str:
    """Which service an error says is away, in words for the log."""
    if isinstance(exc, SchemaNotCurrent):
        return f"the database schema ({exc.hint})"
    if isinstance(exc, DatabaseUnavailable):
        return "the database"
    if isinstance(exc, StorageUnavailable):
        return "the object store"
    if isinstance(exc, BrokerUnavailable):
        return "the broker"
    return "a service"


class _Waiting:
    """The waits of one start-up: logged once per service, paced by the backoff policy."""

    def __init__(self, settings: Settings) -> None:
        self.backoff = Backoff(settings.service_backoff)
        self.service: str | None = None
        self.since = time.monotonic()

    def failed(self, exc: TransientError | SchemaNotCurrent) -> float:
        """Note a failed start; return the seconds to wait before the next one."""
        service = service_of(exc)
        delay = self.backoff.failed()
        if service != self.service:
            log.warning("waiting for %s before starting: %s", service, exc)
            self.service = service
        else:
            log.debug("still waiting for %s (next try in %.1f s): %s", service, delay, exc)
        return delay

    def ended(self) -> None:
        """The start succeeded: say so if it had to wait."""
        if self.service is not None:
            waited = time.monotonic() - self.since
            log.info("%s answers again after %.0f s; starting", self.service, waited)
