"""The worker process: consume document messages one at a time and process them.

The consume loop is kombu's :class:`~kombu.mixins.ConsumerMixin` (connect, start the
document consumer, drain events, sending AMQP heartbeats while idle), run by
:meth:`Worker.run` in a loop of its own: the mixin's ``run`` reconnects only on the
transport's own error classes, which on the embedded filesystem transport leaves out the
``OSError`` of an unreadable queue folder and kombu's ``OperationalError``; a worker
reconnects on every broker error (:func:`mailroom.infra.queue.link_errors`) and never
exits for one. Reconnects and refused connection attempts wait by
``settings.service_backoff`` (at most ``service_backoff_max_seconds``), so a worker is
back within that long of the broker's return.

While a document is processed, the consuming thread does nothing else, and one page may
take minutes. Two :class:`~mailroom.runtime.keepalive.Ticker` threads keep things alive
meanwhile:

- *AMQP heartbeats.* kombu connections are not thread-safe, so the connection is handed
  to the heartbeat thread only for the time the consuming thread does not use it: from
  the start of processing until ``handle`` returned (and during the pause after a
  requeue). Taking it back waits for a heartbeat being sent; acknowledging, rejecting
  and requeueing happen afterwards, by the consuming thread alone. Calling
  ``heartbeat_check()`` between pages instead would not do: one page can outlast the
  broker's heartbeat timeout, and ``heartbeat_check()`` itself fails a connection on
  which nothing was read for two intervals — always the case while processing — so the
  thread only *sends* heartbeat frames (:func:`~mailroom.infra.queue.heartbeat_sender`).
- *The document's lease*, renewed every third of ``lease_seconds`` with sessions of its
  own, so the lease runs out only when this worker died or lost the database; the
  sweeper then republishes the document. A redelivered message never takes over a lease
  (see :meth:`~mailroom.runtime.processor.DocumentProcessor.handle`).

Acknowledgement happens only after :class:`~mailroom.runtime.processor.DocumentProcessor`
has written the objects and committed the database. A database failure at commit time
requeues the message at once; the worker pauses by the retry policy before it takes the
next one. Any crash before the ack means redelivery (RabbitMQ) or a republish by the
sweeper once the lease ran out (embedded transport). The sweeper runs beside the consumer
in a thread of its own, with its own database sessions and broker connections.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kombu import Connection, Consumer, Message
from kombu.mixins import ConsumerMixin

from mailroom.core.backoff import Backoff
from mailroom.core.errors import BadInputError, BrokerUnavailable, MailroomError
from mailroom.infra.queue import DocumentMessage, heartbeat_sender, link_errors
from mailroom.runtime import leases
from mailroom.runtime.context import AppContext
from mailroom.runtime.keepalive import Ticker
from mailroom.runtime.processor import DocumentProcessor, Outcome, Report
from mailroom.runtime.sweeper import Sweeper

log = logging.getLogger(__name__)

#: How long a stopping worker waits for a sweep that is under way (one takes well under a
#: second; the thread is a daemon, and a sweep cut short is repaired by the next one).
SWEEPER_JOIN_SECONDS = 10.0
#: Heartbeat frames per heartbeat timeout while a document is processed (RabbitMQ gives
#: up on a connection after about two timeouts without a frame).
HEARTBEATS_PER_TIMEOUT = 4


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
        # Never connected itself: it tells the transport's error classes, and each
        # (re)connect connects a new connection (create_connection).
        self.connection = ctx.queue.connect()
        self.processed = 0
        self.last_report: Report | None = None
        self._stop = threading.Event()
        self._max_messages: int | None = None
        self._reconnects = Backoff(ctx.settings.service_backoff)
        self._requeues = Backoff(ctx.settings.service_backoff)
        self._pause = 0.0  # seconds to wait before the next message (after a requeue)
        self._owed: set[str] = set()  # documents whose message the broker did not take back
        # Set while the consumer is connected: without a broker a sweep could republish
        # nothing, and would spend its time in connection timeouts.
        self._consuming = threading.Event()
        self._consuming_since = 0.0
        self._send_heartbeat: Callable[[], None] | None = None
        self.heartbeats = Ticker[Callable[[], None]](
            f"{self.name} heartbeats", self._heartbeat_seconds / HEARTBEATS_PER_TIMEOUT, _call
        )
        self.lease_renewal = Ticker[str](
            f"{self.name} lease", ctx.settings.lease_seconds / 3, self._renew_lease
        )

    @property
    def _heartbeat_seconds(self) -> float:
        return float(self.ctx.settings.broker_heartbeat_seconds)

    # -- running ------------------------------------------------------------------------

    def run(  # type: ignore[override]  # the mixin's run(_tokens) is replaced, see above
        self, stop: threading.Event | None = None, *, max_messages: int | None = None
    ) -> None:
        """Consume until ``stop`` is set (or ``max_messages`` were handled).

        Warms up, starts the sweeper and keep-alive threads beside the consumer, and
        consumes, reconnecting after any broker error, until told to stop.
        """
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        self._stop = stop or threading.Event()
        self._max_messages = max_messages
        self.warm_up()
        log.info("%s consuming %s", self.name, self.ctx.queue.describe())
        with self._threads_beside():
            self._consume_until_stopped()

    @contextmanager
    def _threads_beside(self) -> Iterator[None]:
        """The sweeper, heartbeat and lease threads for the time the worker consumes."""
        sweeping = threading.Event()
        sweeper = self._start_sweeper(sweeping)
        self.heartbeats.start()
        self.lease_renewal.start()
        try:
            yield
        finally:
            sweeping.set()
            self.heartbeats.stop()
            self.lease_renewal.stop()
            sweeper.join(SWEEPER_JOIN_SECONDS)
            self.connection.release()

    def _consume_until_stopped(self) -> None:
        """Consume; after any broker error, wait by the retry policy and connect anew."""
        errors = link_errors(self.connection)
        drain_seconds = min(1.0, self._heartbeat_seconds / HEARTBEATS_PER_TIMEOUT)
        while not self.should_stop:
            try:
                for _ in self.consume(limit=None, safety_interval=drain_seconds):
                    pass
            except _Stopping:
                return
            except errors as exc:
                self._connection_lost(exc)
            except Exception as exc:  # a bug or a library surprise: never end the worker
                log.exception("%s: consuming failed unexpectedly", self.name)
                self._connection_lost(exc)

    def _connection_lost(self, exc: BaseException) -> None:
        """Wait before reconnecting: longer each time a new connection fails again soon.

        A connection that worked for a while starts the delays from the shortest again.
        """
        self._consuming.clear()
        if time.monotonic() - self._consuming_since >= self._reconnects.policy.maximum:
            self._reconnects.succeeded()
        delay = self._reconnects.failed()
        log.warning(
            "%s: broker connection lost (%s: %s); reconnecting in %.1f s",
            self.name,
            type(exc).__name__,
            exc,
            delay,
        )
        self._stop.wait(delay)

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
            "German word list": lambda: self.ctx.vocabulary,
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
        """A new connection, made like every mailroom connection and named after the worker.

        kombu's default clones :attr:`connection`, which logs a warning about the
        missing host name on the virtual transports (filesystem, memory) each time.
        """
        return self.ctx.queue.connect(name=self.name)

    @contextmanager
    def establish_connection(self) -> Iterator[Connection]:
        """Connect a new connection, retrying until it works or the worker stops.

        kombu's own pause between attempts (2 s more each time, at most 30 s) is set to
        zero; :meth:`on_connection_error` waits instead, by ``settings.service_backoff``
        and on the stop event, so the delays follow the one policy and a stop ends the
        wait at once.
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
        """Connected and consuming: note the connection's heartbeat sender and the time."""
        self._send_heartbeat = heartbeat_sender(connection)
        self._consuming_since = time.monotonic()
        self._consuming.set()

    def on_iteration(self) -> None:
        """Before each wait for a message: messages owed, the pause a requeue asked for."""
        self._publish_owed()
        pause, self._pause = self._pause, 0.0
        if pause > 0:
            with self.heartbeats.during(self._send_heartbeat):
                self._stop.wait(pause)

    def _publish_owed(self) -> None:
        """Publish again the documents whose messages could not be requeued."""
        for document_id in sorted(self._owed):
            try:
                self.ctx.queue.publish(DocumentMessage(document_id))
            except BrokerUnavailable:
                return  # still refused: next time
            self._owed.discard(document_id)
            log.info("%s: document %s published again", self.name, document_id)

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
            report = self._process(msg, bool(message.delivery_info.get("redelivered")))
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

    def _process(self, msg: DocumentMessage, redelivered: bool) -> Report:
        """Process the document; heartbeats and the lease renewal go on meanwhile."""
        with (
            self.heartbeats.during(self._send_heartbeat),
            self.lease_renewal.during(msg.document_id),
        ):
            return self.processor.handle(msg.document_id, redelivered=redelivered)

    def _renew_lease(self, document_id: str) -> None:
        if not leases.renew(self.ctx, self.name, document_id):
            # Before the claim or after the commit, or the lease ran out: nothing to renew.
            log.debug("%s: no lease on document %s to renew", self.name, document_id)

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        """A body kombu cannot decode (not JSON, another content type) is dead-lettered.

        The mixin's default would acknowledge it, i.e. drop it without a trace.
        """
        log.error("%s: undecodable message dead-lettered: %s", self.name, exc)
        self.ctx.queue.dead_letter(message, None, f"undecodable message: {exc}")

    def _requeue(self, message: Message, msg: DocumentMessage, exc: Exception) -> None:
        """The outcome could not even be recorded (database down, or a bug at commit).

        The message goes back at once, so it is never held while nothing happens; this
        worker pauses by the retry policy before it takes the next one (on_iteration).
        Each claim counts an attempt, so a poison document ends dead-lettered after
        max_attempts instead of looping forever.
        """
        try:
            message.requeue()
        except Exception:
            # The broker took nothing back (the filesystem queue's disk is full): publish
            # the document again ourselves once it takes messages, instead of leaving it
            # to the sweeper's lost-message check minutes later.
            self._owed.add(msg.document_id)
            raise
        self._pause = self._requeues.failed()
        log.error(
            "%s: document %s not recorded (%s); requeued, next message in %.1f s",
            self.name,
            msg.document_id,
            exc,
            self._pause,
            exc_info=not isinstance(exc, MailroomError),
        )

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


def _call(send: Callable[[], None]) -> None:
    send()
