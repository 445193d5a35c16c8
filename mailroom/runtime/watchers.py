"""The hot-folder watchers wired to the document register (database, object store, queue).

:mod:`intake.watcher` polls the folders and decides when a file is complete; this module
gives it a :class:`~intake.watcher.Registrar` that registers files through
:mod:`mailroom.runtime.registration` and starts one watcher thread per scan line.
"""

from __future__ import annotations

import threading
from pathlib import Path

from config.scanlines import ScanLineConfig
from intake.watcher import IntakeResult, ScanLineWatcher, Taken
from mailroom.infra.db.models import Batch
from mailroom.runtime.context import AppContext
from mailroom.runtime.publishing import publish_waiting
from mailroom.runtime.registration import take_file
from mailroom.runtime.sweeper import clean_spool_until


class DatabaseRegistrar:
    """The watcher's register: one :class:`AppContext` (database, object store, queue)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def take(
        self, line: ScanLineConfig, path: Path, *, batch_id: int | None, publish: bool
    ) -> Taken:
        intake = take_file(self.ctx, line, path, batch_id=batch_id, publish=publish)
        doc = intake.document
        if doc is None:
            return Taken(path.name, None)
        return Taken(
            source_name=doc.source_name,
            document_id=doc.id,
            state=str(doc.state),
            batch_id=doc.batch_id,
            destination=intake.destination,
            reason=doc.state_reason,
            resumed=intake.resumed,
            broker_failed=intake.broker_failed,
        )

    def publish_backlog(self, line: ScanLineConfig) -> int:
        """Publish the line's documents still ``received``, through one connection."""
        return publish_waiting(self.ctx, line.id)

    def batch_id(self, line: ScanLineConfig, name: str, known: int | None) -> int:
        with self.ctx.db.session() as session:
            batch = session.get(Batch, known) if known is not None else None
            if batch is not None and batch.scan_line_id == line.id and batch.name == name:
                return batch.id
            batch = Batch(scan_line_id=line.id, name=name)
            session.add(batch)
            session.flush()
            return batch.id


def watcher(ctx: AppContext, line: ScanLineConfig, *, observe: bool = True) -> ScanLineWatcher:
    """A watcher of one scan line that registers into ``ctx``."""
    return ScanLineWatcher(ctx.settings, line, DatabaseRegistrar(ctx), observe=observe)


def scan_once(ctx: AppContext, scan_line: ScanLineConfig) -> list[IntakeResult]:
    """One pass over a hot folder with no memory of earlier passes.

    A file counts as complete when its mtime is ``intake_stable_seconds`` old (the
    long-running watcher additionally watches it stay unchanged). For tests and one-off runs.
    """
    one = watcher(ctx, scan_line, observe=False)
    try:
        return one.scan_once()
    finally:
        one.lock.release()  # the next pass (or a running watcher) may take the folder


def run_watchers(ctx: AppContext, stop: threading.Event) -> None:
    """Watch every configured scan line, one thread each; return once ``stop`` is set.

    Another thread cleans this host's spool folder of killed processes' copies, at once
    and every few minutes (:func:`~mailroom.runtime.sweeper.clean_spool_until`).
    """
    threading.Thread(
        target=clean_spool_until,
        args=(ctx.settings, stop),
        name="spool-cleanup",
        daemon=True,
    ).start()
    threads = [
        threading.Thread(
            target=watcher(ctx, line).run,
            args=(stop,),
            name=f"intake-{line.id}",
            daemon=True,
        )
        for line in ctx.scan_lines
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
