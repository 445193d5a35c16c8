"""Entry points of worker processes (``mailroom worker`` and the children of ``mailroom up``)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

import cv2

from config.settings import Settings
from mailroom.runtime import logs
from mailroom.runtime.startup import open_context
from mailroom.runtime.worker import Worker

log = logging.getLogger(__name__)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM/SIGINT only set ``stop``; the worker finishes its current document first."""

    def _handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: finishing the current document, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)


def worker_process(settings: Settings, name: str | None = None) -> None:
    """Run one worker until signalled. One Tesseract thread per process.

    OpenCV's own thread pool is switched off too: with one worker per core, a second
    thread per worker only makes the workers' preprocessing fight for the same cores.
    """
    os.environ["OMP_THREAD_LIMIT"] = "1"
    cv2.setNumThreads(1)
    logs.setup_logging(settings.log_level)
    stop = threading.Event()
    stop_on_signals(stop)
    ctx = open_context(settings, stop, migrate=False)  # waits out an outage at start
    if ctx is None:
        return  # stopped while waiting
    try:
        Worker(ctx, name=name).run(stop)
    finally:
        ctx.close()
