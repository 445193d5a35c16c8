"""The worker process: consume document messages one at a time and process them.

Acknowledgement happens only after :class:`~workers.processor.DocumentProcessor` has
written the objects and committed the database. A database failure at commit time
requeues the message; any crash before the ack means redelivery (RabbitMQ) or a
republish by the sweeper (embedded transport).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from kombu import Message
from kombu.exceptions import KombuError, OperationalError

from mailroom.core.errors import BadInputError, MailroomError
from mailroom.infra.queue import DocumentMessage
from mailroom.runtime.context import AppContext
from mailroom.runtime.processor import DocumentProcessor, Outcome, Report
from mailroom.runtime.sweeper import Sweeper

log = logging.getLogger(__name__)


class Worker:
    """One worker process: one message in flight, one Tesseract thread."""

    def __init__(self, ctx: AppContext, name: str | None = None) -> None:
        self.ctx = ctx
        self.name = name or f"worker@{socket.gethostname()}:{os.getpid()}"
        self.processor = DocumentProcessor(ctx, self.name)
        self.sweeper = Sweeper(ctx, actor=self.name)
        self.processed = 0
        self.last_report: Report | None = None

    def run(self, stop: threading.Event, *, max_messages: int | None = None) -> None:
        """Consume until ``stop`` is set (or ``max_messages`` were handled)."""
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        self.warm_up()
        log.info("%s consuming %s", self.name, self.ctx.queue.describe())
        delay = 1.0
        while not stop.is_set():
            try:
                with (
                    self.ctx.queue.connect() as conn,
                    self.ctx.queue.consumer(conn, self._on_message),
                ):
                    delay = 1.0
                    while not stop.is_set():
                        if max_messages is not None and self.processed >= max_messages:
                            return
                        with contextlib.suppress(TimeoutError, socket.timeout):
                            conn.drain_events(timeout=1.0)
                        self.sweeper.maybe_run()
            except (KombuError, OperationalError, OSError, ConnectionError) as exc:
                log.warning(
                    "%s: broker connection lost (%s); reconnecting in %.0fs", self.name, exc, delay
                )
                stop.wait(delay)
                delay = min(delay * 2, 30.0)

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

    def _on_message(self, body: Any, message: Message) -> None:
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
            # Could not even record the outcome (database down, or a bug at commit): let the
            # broker redeliver. Each claim counts an attempt, so a poison document ends
            # dead-lettered after max_attempts instead of looping forever.
            log.error(
                "%s: document %s not recorded (%s); requeued",
                self.name,
                msg.document_id,
                exc,
                exc_info=not isinstance(exc, MailroomError),
            )
            threading.Event().wait(2.0)
            message.requeue()
            return
        self.last_report = report
        self.processed += 1
        if report.outcome is Outcome.DEAD:
            self.ctx.queue.dead_letter(message, msg, report.reason or "failed")
        else:
            message.ack()
