"""The document queue on the embedded filesystem transport and on RabbitMQ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kombu import Message

from mailroom.core.errors import BadInputError
from mailroom.infra.queue import DocumentMessage, DocumentQueue
from tests.conftest import make_settings


def _consume_one(queue: DocumentQueue, handler: Any) -> list[Any]:
    seen: list[Any] = []

    def on_message(body: Any, message: Message) -> None:
        seen.append(body)
        handler(body, message)

    with queue.connect() as conn, queue.consumer(conn, on_message):
        for _ in range(20):
            try:
                conn.drain_events(timeout=0.5)
            except TimeoutError:
                continue
            if seen:
                break
    return seen


def test_message_is_small_json_with_ids_and_timestamp() -> None:
    body = DocumentMessage("a1b2", attempt=2).to_json()
    parsed = DocumentMessage.parse(body)
    assert parsed.document_id == "a1b2" and parsed.attempt == 2 and parsed.ts


@pytest.mark.parametrize(
    "body", ["not json", "[1]", '{"document_id": "../x"}', '{"document_id": "ab", "attempt": 0}']
)
def test_malformed_messages_are_refused(body: str) -> None:
    with pytest.raises(BadInputError):
        DocumentMessage.parse(body)


def test_embedded_queue_works_across_connections(tmp_path: Path) -> None:
    queue = DocumentQueue(make_settings(tmp_path))
    queue.publish(DocumentMessage("doc1"))
    assert queue.depth() == 1
    seen = _consume_one(queue, lambda body, msg: msg.ack())
    assert seen[0]["document_id"] == "doc1"
    assert queue.depth() == 0


def test_embedded_dead_letter_keeps_the_message(tmp_path: Path) -> None:
    queue = DocumentQueue(make_settings(tmp_path))
    queue.publish(DocumentMessage("doc2"))
    _consume_one(queue, lambda body, msg: queue.dead_letter(msg, DocumentMessage.parse(body), "x"))
    assert queue.depth() == 0
    assert queue.depth(dead=True) == 1


@pytest.mark.integration
def test_rabbitmq_rejects_into_a_real_dead_letter_exchange(
    tmp_path: Path, amqp_url: str, amqp_queue_name: str
) -> None:
    queue = DocumentQueue(make_settings(tmp_path, broker_url=amqp_url, queue_name=amqp_queue_name))
    queue.publish(DocumentMessage("doc3"))
    assert queue.depth() == 1
    _consume_one(queue, lambda body, msg: queue.dead_letter(msg, None, "permanent"))
    # The broker moved it: mailroom.dlx -> <queue>.dead, by the queue's x-dead-letter-exchange.
    for _ in range(20):
        if queue.depth(dead=True) == 1:
            break
    assert queue.depth() == 0
    assert queue.depth(dead=True) == 1


@pytest.mark.integration
def test_rabbitmq_redelivers_an_unacknowledged_message(
    tmp_path: Path, amqp_url: str, amqp_queue_name: str
) -> None:
    queue = DocumentQueue(make_settings(tmp_path, broker_url=amqp_url, queue_name=amqp_queue_name))
    queue.publish(DocumentMessage("doc4"))
    # A worker takes the message and dies before acknowledging (connection closed).
    _consume_one(queue, lambda body, msg: None)
    seen = _consume_one(queue, lambda body, msg: msg.ack())
    assert seen and seen[0]["document_id"] == "doc4"


def test_two_installations_sharing_a_broker_never_receive_each_others_messages(
    tmp_path: Path, amqp_url: str
) -> None:
    """Both declare the ``mailroom`` exchange; each queue is bound by its own name."""
    import uuid

    from tests import services

    names = [f"mailroom.test.{uuid.uuid4().hex[:10]}" for _ in range(2)]
    first, second = (
        DocumentQueue(make_settings(tmp_path / n, broker_url=amqp_url, queue_name=n)) for n in names
    )
    try:
        with second.connect() as conn:
            second.declare(conn)
        first.publish(DocumentMessage("doc1"))
        assert first.depth() == 1
        assert second.depth() == 0
    finally:
        services.delete_amqp_queues(*names, *(n + ".dead" for n in names))
