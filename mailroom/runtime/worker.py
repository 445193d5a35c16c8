"""The worker process: consume document messages one at a time and process them.

The consume loop is kombu's :class:`~kombu.mixins.ConsumerMixin`: it connects, starts the
document consumer, drains events (sending AMQP heartbeats while idle) and reconnects when
the broker goes away. Between refused connection attempts it waits by mailroom's one retry
policy (``settings.backoff``), not by kombu's own linear intervals. The sweeper runs beside
the consumer in a thread of its own, with its own database sessions and broker connections.

Acknowledgement happens only after :class:`~mailroom.runtime.processor.DocumentProcessor`
has written the objects and committed the database. A database failure at commit time
requeues the message; any crash before the ack means redelivery (RabbitMQ) or a
republish by the sweeper (embedded transport).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from kombu import Connection, Consumer, Message
from kombu.mixins import ConsumerMixin

from mailroom.core.backoff import Backoff
from mailroom.core.errors import BadInputError, MailroomError
from mailroom.infra.queue import DocumentMessage
from mailroom.runtime.context import AppContext
from mailroom.runtime.processor import DocumentProcessor, Outcome, Report
from mailroom.runtime.sweeper import Sweeper

log = logging.getLogger(__name__)

#: How long a stopping worker waits for a sweep that is under way (one takes well under a
#: second; the thread is a daemon, and a sweep cut short is repaired by the next one).
SWEEPER_JOIN_SECONDS = 10.0


class _Stopping(Exception):
    """Raised out of kombu's connection retry loop when the worker is told to stop."""


class Worker(ConsumerMixin):
    """One worker process: one message in flight, one Tesseract thread."""

    #: Retry a refused connection forever; :meth:`on_connection_error` paces the attempts.
    connect_max_retries = None

    def __init__(self, ctx: AppContext, name: str | None = None) -> None:
        self.ctx = ctx
        self.name = name or f"worker@{socket.gethostname()}:{os.getpid()}"
        self.processor = DocumentProcessor(ctx, self.name)
        self.sweeper = Sweeper(ctx, actor=self.name)
        # Never connected itself: the mixin reads the transport's error classes from it and
        # connects a new connection (create_connection) each time.
        self.connection = ctx.queue.connect()
        self.processed = 0
        self.last_report: Report | None = None
        self._stop = threading.Event()
        self._max_messages: int | None = None
        self._reconnects = Backoff(ctx.settings.backoff)
        self._requeues = Backoff(ctx.settings.backoff)
        # Set while the consumer is connected: without a broker a sweep could republish
        # nothing, and would spend its time in connection timeouts.
        self._consuming = threading.Event()

    # -- running ------------------------------------------------------------------------

    def run(  # type: ignore[override]  # the mixin's run(_tokens) is called below
        self, stop: threading.Event | None = None, *, max_messages: int | None = None
    ) -> None:
        """Consume until ``stop`` is set (or ``max_messages`` were handled).

        Replaces the mixin's ``run(_tokens)`` as the entry point and calls it: the mixin's
        loop is the consume-and-reconnect loop, this adds warm-up and the sweeper thread.
        """
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        self._stop = stop or threading.Event()
        self._max_messages = max_messages
        self.warm_up()
        log.info("%s consuming %s", self.name, self.ctx.queue.describe())
        sweeping = threading.Event()
        sweeper = self._start_sweeper(sweeping)
        try:
            with suppress(_Stopping):
                super().run()
        finally:
            sweeping.set()
            sweeper.join(SWEEPER_JOIN_SECONDS)
            self.connection.release()

    @property
    def should_stop(self) -> bool:
        """The mixin's loop condition: the stop event is set or ``max_messages`` handled."""
        limit = self._max_messages
        return self._stop.is_set() or (limit is not None and self.processed >= limit)

    @should_stop.setter
    def should_stop(self, value: bool) -> None:
        """``worker.should_stop = True`` (the mixin's way to stop) sets the stop event."""
        if value:
            self._stop.set()

    def warm_up(self) -> None:
        """Start Tesseract once and load the router before taking the first message.

        Otherwise the first document pays for it (seconds: the model is read and checked,
        the cold-start router is trained), holding a message while nothing is recognised.
        A failure here is only logged; the first document meets it again and is handled
        like any other failure (retried, then dead-lettered).
        """
        loads: dict[str, Callable[[], object]] = {
            "OCR engine": lambda: self.ctx.ocr,
            "router": lambda: self.ctx.registry.router(),
        }
        for what, load in loads.items():
            try:
                load()
            except Exception as exc:
                log.error("%s: cannot load the %s yet: %s", self.name, what, exc)

    # -- the broker connection (ConsumerMixin hooks) ------------------------------------

    def get_consumers(self, _consumer: type[Consumer], channel: Any) -> list[Consumer]:
        """The document consumer: prefetch 1, manual acknowledgement, JSON only."""
        return [self.ctx.queue.channel_consumer(channel, self.on_message, self.on_decode_error)]

    def create_connection(self) -> Connection:
        """A new connection, made like every mailroom connection (transport options).

        kombu's default clones :attr:`connection`, which logs a warning about the
        missing host name on the virtual transports (filesystem, memory) each time.
        """
        return self.ctx.queue.connect()

    @contextmanager
    def establish_connection(self) -> Iterator[Connection]:
        """Connect a new connection, retrying until it works or the worker stops.

        kombu's own pause between attempts (2 s more each time, at most 30 s) is set to
        zero; :meth:`on_connection_error` waits instead, by ``settings.backoff`` and on the
        stop event, so the delays follow the one policy and a stop ends the wait at once.
        """
        self._consuming.clear()
        with self.create_connection() as conn:
            conn.ensure_connection(
                self.on_connection_error,
                self.connect_max_retries,
                interval_start=0,
                interval_step=0,
                interval_max=0,
            )
            yield conn

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        """A connection attempt failed: wait by the retry policy (kombu's ``interval`` is 0)."""
        delay = self._reconnects.failed()
        log.warning(
            "%s: broker %s unavailable (%s); trying again in %.1f s",
            self.name,
            self.ctx.queue.describe(),
            exc,
            delay,
        )
        if self._stop.wait(delay):
            raise _Stopping from exc

    def on_consume_ready(
        self, connection: Connection, channel: Any, consumers: list[Consumer], **kwargs: Any
    ) -> None:
        """Connected and consuming: the next outage starts again at the shortest delay."""
        self._reconnects.succeeded()
        self._consuming.set()

    # -- messages -------------------------------------------------------------------------

    def on_message(self, body: Any, message: Message) -> None:
        """Process one document message; ack, dead-letter or requeue it accordingly."""
        try:
            msg = DocumentMessage.parse(body)
        except BadInputError as exc:
            log.error("%s: malformed message dead-lettered: %s", self.name, exc)
            self.ctx.queue.dead_letter(message, None, str(exc))
            return
        try:
            redelivered = bool(message.delivery_info.get("redelivered"))
            report = self.processor.handle(msg.document_id, redelivered=redelivered)
        except Exception as exc:
            self._requeue(message, msg, exc)
            return
        self._requeues.succeeded()
        self.last_report = report
        self.processed += 1
        if report.outcome is Outcome.DEAD:
            self.ctx.queue.dead_letter(message, msg, report.reason or "failed")
        else:
            message.ack()

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        """A body kombu cannot decode (not JSON, another content type) is dead-lettered.

        The mixin's default would acknowledge it, i.e. drop it without a trace.
        """
        log.error("%s: undecodable message dead-lettered: %s", self.name, exc)
        self.ctx.queue.dead_letter(message, None, f"undecodable message: {exc}")

    def _requeue(self, message: Message, msg: DocumentMessage, exc: Exception) -> None:
        """The outcome could not even be recorded (database down, or a bug at commit).

        Let the broker redeliver after a pause by the retry policy. Each claim counts an
        attempt, so a poison document ends dead-lettered after max_attempts instead of
        looping forever.
        """
        delay = self._requeues.failed()
        log.error(
            "%s: document %s not recorded (%s); requeued in %.1f s",
            self.name,
            msg.document_id,
            exc,
            delay,
            exc_info=not isinstance(exc, MailroomError),
        )
        self._stop.wait(delay)
        message.requeue()

    # -- the sweeper beside the consumer -----------------------------------------------

    def _start_sweeper(self, done: threading.Event) -> threading.Thread:
        thread = threading.Thread(
            target=self._sweep_until, args=(done,), name=f"{self.name} sweeper", daemon=True
        )
        thread.start()
        return thread

    def _sweep_until(self, done: threading.Event) -> None:
        """Sweep every interval until ``done``, skipping sweeps while the broker is away.

        The first sweep comes after a random share of the interval, so that workers
        started together do not all sweep at the same moment.
        """
        interval = self.ctx.settings.sweep_interval_seconds
        wait = random.uniform(0, interval)  # noqa: S311 - spreading load, not security
        while not done.wait(wait):
            if self._consuming.is_set():
                self._sweep_once()
            wait = interval

    def _sweep_once(self) -> None:
        """One sweep; never raises, a failed sweep is simply tried again next time."""
        try:
            self.sweeper.run()
        except MailroomError as exc:
            log.warning("%s: sweep failed, next time again: %s", self.name, exc)
        except Exception:
            log.exception("%s: sweep failed unexpectedly, next time again", self.name)
