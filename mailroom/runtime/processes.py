"""Entry points of worker processes (``mailroom worker`` and the children of ``mailroom up``)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
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


#: ``prctl(PR_SET_NAME)``: the name ``ps -o comm``, ``top`` and ``/proc/<pid>/comm`` show.
_PR_SET_NAME = 15


def name_process(name: str) -> None:
    """Give this process a name ``ps``/``top`` show (Linux; at most 15 characters).

    Spawned children of ``mailroom up`` otherwise all look like ``python``; an operator
    (and the fault drills) tell ``mr-worker-1`` from ``mr-watchers`` by it. Elsewhere, or
    if the C library cannot be loaded, nothing happens.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError) as exc:
        log.debug("process name not set: %s", exc)


def worker_process(settings: Settings, name: str | None = None) -> None:
    """Run one worker until signalled. One Tesseract thread per process.

    OpenCV's own thread pool is switched off too: with one worker per core, a second
    thread per worker only makes the workers' preprocessing fight for the same cores.
    """
    name_process("mr-" + (name or "worker").split("@", 1)[0])
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
