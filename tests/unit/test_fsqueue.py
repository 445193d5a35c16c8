"""The embedded queue's message files: a consumer never takes a message half-written."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from kombu import Message

from config.settings import Settings
from mailroom.infra.queue import DocumentMessage, DocumentQueue
from tests.conftest import make_settings

MESSAGES = 300
PATIENCE_SECONDS = 120.0


def test_messages_published_while_a_consumer_drains_all_arrive_whole(tmp_path: Path) -> None:
    """kombu's own filesystem transport makes a message file visible before its body is
    written; a consumer in another process then read it empty and lost it. Published from
    one thread while another drains, every message must arrive, once, and parse."""
    settings: Settings = make_settings(tmp_path / "data")
    queue = DocumentQueue(settings)
    received: list[str] = []
    errors: list[BaseException] = []

    def on_message(body: object, message: Message) -> None:
        received.append(DocumentMessage.parse(body).document_id)
        message.ack()

    def publish_all() -> None:
        with queue.connect() as conn:
            for n in range(MESSAGES):
                queue.publish(DocumentMessage(f"doc{n:04d}"), conn)

    publisher = threading.Thread(target=publish_all, daemon=True)
    with queue.connect() as conn, queue.consumer(conn, on_message):
        publisher.start()
        deadline = time.monotonic() + PATIENCE_SECONDS
        while len(received) < MESSAGES and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.5)
            except TimeoutError:
                continue
            except Exception as exc:  # what a half-written file used to cause
                errors.append(exc)
    publisher.join(PATIENCE_SECONDS)
    assert errors == []
    assert sorted(received) == [f"doc{n:04d}" for n in range(MESSAGES)]
    leftovers = [p.name for p in settings.queue_folder.iterdir() if p.name.endswith(".part")]
    assert leftovers == []
