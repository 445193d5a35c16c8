"""The document queue (kombu): small JSON messages, durable queues, a dead-letter queue.

Embedded, kombu's filesystem transport carries messages between processes through a
folder; in production RabbitMQ does, with publisher confirms and a real dead-letter
exchange (``mailroom.dlx``) bound to ``<queue>.dead``. The database stays the source of
truth: a message only says "look at document X"; workers load everything else.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from amqp.exceptions import AMQPError
from kombu import Connection, Consumer, Exchange, Message, Producer, Queue
from kombu.exceptions import KombuError, OperationalError

from config.settings import Settings
from mailroom.core.errors import BadInputError, BrokerUnavailable
from mailroom.infra import fsqueue

log = logging.getLogger(__name__)

DEAD_ROUTING_KEY = "dead"
#: How often kombu's virtual transports (filesystem, memory) look for new messages.
VIRTUAL_POLL_SECONDS = 0.2
#: How much of a message body that could not be read a dead letter keeps.
DEAD_ORIGINAL_CHARS = 4000


@dataclass(frozen=True)
class DocumentMessage:
    """``{"document_id": ..., "attempt": n, "ts": "..."}`` — never more than ids."""

    document_id: str
    attempt: int = 1
    ts: str = ""
    reason: str | None = None  # only on dead letters

    def to_json(self) -> str:
        data = asdict(self)
        data["ts"] = self.ts or datetime.now(UTC).isoformat()
        return json.dumps({k: v for k, v in data.items() if v is not None})

    @classmethod
    def parse(cls, body: Any) -> DocumentMessage:
        """Validate a message body; a malformed one is a permanent error."""
        if isinstance(body, bytes | str):
            try:
                body = json.loads(body)
            except ValueError as exc:
                raise BadInputError(f"queue message is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise BadInputError("queue message is not a JSON object")
        doc_id = body.get("document_id")
        attempt = body.get("attempt", 1)
        if not isinstance(doc_id, str) or not doc_id.isalnum() or len(doc_id) > 64:
            raise BadInputError(f"queue message has no valid document_id: {doc_id!r}")
        if not isinstance(attempt, int) or attempt < 1:
            raise BadInputError(f"queue message has an invalid attempt: {attempt!r}")
        return cls(doc_id, attempt, str(body.get("ts", "")), body.get("reason"))


class DocumentQueue:
    """Publishing to and consuming from the document queue of one broker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.amqp = settings.uses_amqp
        self.exchange = Exchange("mailroom", type="direct", durable=True)
        self.dlx = Exchange("mailroom.dlx", type="direct", durable=True)
        arguments = (
            {"x-dead-letter-exchange": self.dlx.name, "x-dead-letter-routing-key": DEAD_ROUTING_KEY}
            if self.amqp
            else None
        )
        # Each queue is bound by its own name: two installations (or test runs) that share
        # a broker and the ``mailroom`` exchange never receive each other's messages.
        # Queues declared before this bound ``document`` too; that binding stays and no
        # longer matches anything this code publishes.
        self.queue = Queue(
            settings.queue_name,
            self.exchange,
            routing_key=settings.queue_name,
            durable=True,
            queue_arguments=arguments,
        )
        self.dead_queue = Queue(
            settings.queue_name + ".dead", self.dlx, routing_key=DEAD_ROUTING_KEY, durable=True
        )

    def connect(self, name: str | None = None) -> Connection:
        """A new connection; the caller closes it.

        ``name`` is shown by RabbitMQ (management UI, ``rabbitmqctl list_connections
        client_properties``) as the connection's name, so an operator sees which worker a
        connection belongs to.
        """
        options: dict[str, Any] = {}
        transport: type[fsqueue.Transport] | None = None
        if self.settings.queue_url.startswith("filesystem"):
            transport = fsqueue.Transport  # message files written atomically
            folder = self.settings.queue_folder.resolve()
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "control").mkdir(exist_ok=True)
            options = {
                "data_folder_in": str(folder),
                "data_folder_out": str(folder),
                "control_folder": str(folder / "control"),
                "polling_interval": VIRTUAL_POLL_SECONDS,
            }
        elif self.settings.queue_url.startswith("memory"):
            # kombu's in-process transport (tests): polled like the filesystem one, not
            # at kombu's default of once a second.
            options = {"polling_interval": VIRTUAL_POLL_SECONDS}
        elif self.amqp:
            options = {"confirm_publish": True}
            if name:
                options["client_properties"] = {"connection_name": name}
        return Connection(
            self.settings.queue_url,
            transport=transport,
            transport_options=options,
            connect_timeout=10,
            heartbeat=self.settings.broker_heartbeat_seconds if self.amqp else 0,
        )

    def declare(self, conn: Connection) -> None:
        """Declare the document queue and the dead-letter queue (idempotent)."""
        self._declare_on(conn.default_channel)

    def _declare_on(self, channel: Any) -> None:
        self.queue.bind(channel).declare()
        self.dead_queue.bind(channel).declare()

    def publish(self, message: DocumentMessage, conn: Connection | None = None) -> None:
        """Publish persistently; raises :class:`BrokerUnavailable` if the broker refuses."""
        own = conn is None
        try:
            conn = conn or self.connect()  # the filesystem transport makes its folder here
        except OSError as exc:
            raise BrokerUnavailable(f"cannot publish to {self.describe()}: {exc}") from exc
        try:
            self.declare(conn)
            exchange, routing_key = self._route(self.exchange, self.queue.routing_key, self.queue)
            Producer(conn.default_channel).publish(
                message.to_json(),
                exchange=exchange,
                routing_key=routing_key,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                retry=True,
                retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5},
            )
        except (KombuError, OSError, OperationalError) as exc:
            raise BrokerUnavailable(f"cannot publish to {self.describe()}: {exc}") from exc
        finally:
            if own:
                conn.release()

    def dead_letter(self, message: Message, body: DocumentMessage | None, reason: str) -> None:
        """Move a message to the dead-letter queue, with the reason; then acknowledge it.

        On RabbitMQ, too, the dead letter is published (confirmed) through the
        dead-letter exchange rather than rejected into it: a rejected message would carry
        only RabbitMQ's own reason ("rejected"), and for a message that is not even JSON
        the dead letter is the only place that says why it was refused. A crash between
        the publish and the ack leaves a second dead letter, never none.
        """
        payload = json.dumps(
            {
                "document_id": body.document_id if body else None,
                "attempt": body.attempt if body else None,
                "ts": datetime.now(UTC).isoformat(),
                "reason": reason,
                "original": _body_text(message.body),
            }
        )
        exchange, routing_key = self._route(self.dlx, DEAD_ROUTING_KEY, self.dead_queue)
        Producer(message.channel).publish(
            payload,
            exchange=exchange,
            routing_key=routing_key,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            declare=[self.dead_queue],
        )
        message.ack()

    def _route(self, exchange: Exchange, routing_key: str, queue: Queue) -> tuple[Any, str]:
        """RabbitMQ routes through our exchanges; kombu's virtual transports keep exchange
        bindings in process-wide state, so there the default exchange addresses the queue
        by name, which cannot go stale."""
        if self.amqp:
            return exchange, routing_key
        return "", str(queue.name)

    def consumer(self, conn: Connection, callback: Callable[[Any, Message], None]) -> Consumer:
        """One message in flight per process (prefetch 1), manual acknowledgement."""
        return self.channel_consumer(conn.default_channel, callback)

    def channel_consumer(
        self,
        channel: Any,
        callback: Callable[[Any, Message], None],
        on_decode_error: Callable[[Message, Exception], None] | None = None,
    ) -> Consumer:
        """:meth:`consumer` on a given channel (kombu's ``ConsumerMixin`` hands one over).

        ``on_decode_error`` receives messages whose body is not JSON or has another
        content type; without it kombu raises out of ``drain_events``.
        """
        self._declare_on(channel)
        consumer = Consumer(
            channel,
            queues=[self.queue],
            callbacks=[callback],
            accept=["json", "application/json"],
            prefetch_count=1,
            auto_declare=False,
            on_decode_error=on_decode_error,
        )
        # The filesystem transport ignores prefetch, so also make kombu's QoS honour it.
        consumer.qos(prefetch_count=1)
        return consumer

    def depth(self, dead: bool = False) -> int | None:
        """Messages waiting (not in flight) in the queue, or ``None`` if unknown."""
        queue = self.dead_queue if dead else self.queue
        try:
            with self.connect() as conn:
                self.declare(conn)
                _name, count, _consumers = queue.bind(conn.default_channel).queue_declare(
                    passive=True
                )
                return int(count)
        except (KombuError, OSError, OperationalError, AttributeError, TypeError) as exc:
            log.debug("queue depth unknown: %s", exc)
            return None

    def describe(self) -> str:
        url = self.settings.queue_url
        if "@" in url:  # hide credentials
            scheme, _, rest = url.partition("://")
            url = f"{scheme}://***@{rest.split('@', 1)[1]}"
        return f"{url} ({self.settings.queue_name})"


def _body_text(body: Any) -> str | None:
    """A refused message's body as text for its dead letter (cut short if long)."""
    if isinstance(body, bytes | bytearray):
        body = bytes(body).decode("utf-8", errors="replace")
    return body[:DEAD_ORIGINAL_CHARS] if isinstance(body, str) else None


def link_errors(conn: Connection) -> tuple[type[BaseException], ...]:
    """Every error that means "this broker connection is broken: connect a new one".

    The transport's own connection and channel errors (on the virtual transports only
    amqp's ConnectionError and ChannelError) are not all: kombu raises
    ``OperationalError`` (e.g. from ``default_channel``) and other ``KombuError``s, amqp
    its protocol errors, and the filesystem transport plain ``OSError`` when its folder
    cannot be read.
    """
    return (*conn.connection_errors, *conn.channel_errors, KombuError, AMQPError, OSError)


def heartbeat_sender(conn: Connection) -> Callable[[], None] | None:
    """A function sending one AMQP heartbeat frame on connected ``conn`` (None: no heartbeats).

    It only sends. kombu's ``heartbeat_check()`` would also fail the connection when no
    frame was *read* for two intervals, which is always the case while the consuming
    thread processes a document (see :mod:`mailroom.runtime.worker`); reading resumes,
    and with it that check, when the thread is back in ``drain_events``.
    """
    if not conn.supports_heartbeats or not conn.get_heartbeat_interval():
        return None
    send: Callable[[], None] = conn.connection.send_heartbeat
    return send
