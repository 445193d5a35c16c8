"""Keep-alives while a worker holds a document: broker heartbeats and the lease.

A document can take minutes (a 20-page letter, or one page Tesseract struggles with for
up to ``ocr_timeout_seconds``). While the worker's consuming thread is busy with it, two
things must go on that the thread itself cannot do between pages, because a single page
may take longer than either allows:

- AMQP heartbeats, or RabbitMQ drops the connection after about twice the heartbeat
  timeout and redelivers the unacknowledged message to another worker;
- the document's lease, or the sweeper republishes the document as abandoned.

A :class:`Ticker` is a daemon thread that calls one function every interval while it has
a *target* (the connection's heartbeat sender, the document id); the consuming thread
sets the target only for the time it does not use that target itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Ticker(Generic[T]):
    """Calls ``beat(target)`` every ``interval`` seconds while :meth:`during` sets a target.

    An exception from ``beat`` is logged (once per target) and the next tick tries again.
    """

    def __init__(self, name: str, interval: float, beat: Callable[[T], object]) -> None:
        self.name = name
        self.interval = interval
        self._beat = beat
        # Held for every beat and to change the target: once during() has taken the
        # target back, no beat is running or will run on it.
        self._lock = threading.Lock()
        self._target: T | None = None
        self._complained = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (a daemon: it never keeps a stopping process alive)."""
        self._done.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, waiting up to ``timeout`` for a beat under way."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @contextmanager
    def during(self, target: T | None) -> Iterator[None]:
        """Beat on ``target`` for the block (None: nothing to beat on); then stop at once."""
        with self._lock:
            self._target, self._complained = target, False
        try:
            yield
        finally:
            with self._lock:
                self._target = None

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            with self._lock:
                if self._target is not None:
                    self._beat_once(self._target)

    def _beat_once(self, target: T) -> None:
        try:
            self._beat(target)
        except Exception as exc:
            if not self._complained:
                log.warning("%s failed, trying again in %.1f s: %s", self.name, self.interval, exc)
            self._complained = True
