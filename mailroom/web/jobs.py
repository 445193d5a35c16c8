"""Long admin tasks (training, evaluation) in a background thread, never in the request.

One job at a time per web process; the registry's own lock keeps two processes apart.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailroom.infra.db.audit import audit
from mailroom.infra.db.models import utcnow
from mailroom.runtime.context import AppContext

log = logging.getLogger(__name__)

KEEP_JOBS = 20


@dataclass
class Job:
    """One background task and how it went."""

    id: str
    kind: str
    actor: str
    status: str = "wartet"  # wartet | läuft | fertig | fehlgeschlagen
    detail: str | None = None
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None


class JobRunner:
    """Runs submitted callables on one worker thread and remembers the last results."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailroom-job")
        self._jobs: list[Job] = []
        self._lock = threading.Lock()

    def submit(self, kind: str, actor: str, func: Callable[[], Any]) -> Job:
        """Queue ``func``; its return value (as text) becomes the job's detail."""
        job = Job(id=uuid.uuid4().hex[:12], kind=kind, actor=actor)
        with self._lock:
            self._jobs.insert(0, job)
            del self._jobs[KEEP_JOBS:]
        self._pool.submit(self._run, job, func)
        return job

    def _run(self, job: Job, func: Callable[[], Any]) -> None:
        job.status = "läuft"
        try:
            result = func()
            job.detail = _describe(result)
            job.status = "fertig"
        except Exception as exc:  # a failed training must not kill the web process
            log.exception("background job %s (%s) failed", job.id, job.kind)
            job.status = "fehlgeschlagen"
            job.detail = str(exc)
        job.finished_at = utcnow()
        try:
            with self.ctx.db.session() as session:
                audit(session, job.actor, f"job_{job.kind}", status=job.status, detail=job.detail)
        except Exception:
            log.exception("cannot audit background job %s", job.id)

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs)

    def busy(self) -> bool:
        return any(j.status in ("wartet", "läuft") for j in self.jobs())

    def wait(self, timeout: float | None = None) -> None:
        """Block until the queued jobs are done (tests and shutdown)."""
        marker = self._pool.submit(lambda: None)
        marker.result(timeout=timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _describe(result: Any) -> str | None:
    if result is None:
        return None
    version = getattr(result, "version", None)
    if isinstance(version, str):
        return f"Version {version}"
    return str(result)[:500]
