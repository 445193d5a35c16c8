"""The hot-folder watchers: one polling loop per scan line (Scanstraße).

Polling, not inotify: hot folders are often SMB/NFS shares where change notification does
not work. Every ``intake_poll_seconds`` a watcher lists its folder, waits until a file (or a
batch folder, Stapel) has stayed unchanged for ``intake_stable_seconds`` and hands it to
its :class:`Registrar` (the document register: database, object store and queue, in
:mod:`mailroom.runtime.watchers`). Nothing here may stop the loop: an unavailable database,
object store or share leaves the files where they are and retries with a jittered backoff.

This module knows folders and files only; it never touches the database itself.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from config.scanlines import ScanLineConfig
from config.settings import Settings
from intake import hotfolder
from mailroom.core.backoff import Backoff
from mailroom.core.errors import (
    BrokerUnavailable,
    ConfigurationError,
    DatabaseUnavailable,
    FolderUnavailable,
    MailroomError,
    StorageUnavailable,
)
from mailroom.core.states import DocumentState as S

log = logging.getLogger(__name__)

DEFERRED = "deferred"  # a service or the file itself failed: the file stays, retried later
VANISHED = "vanished"  # the file disappeared before it could be read
#: Failures that make the whole scan line wait; anything else only delays the one file.
SERVICE_ERRORS = (DatabaseUnavailable, StorageUnavailable, FolderUnavailable, ConfigurationError)


@dataclass(frozen=True)
class Taken:
    """What the register did with one file (``document_id`` None: the file vanished)."""

    source_name: str
    document_id: str | None
    state: str | None = None
    batch_id: int | None = None
    destination: Path | None = None
    reason: str | None = None
    resumed: bool = False
    broker_failed: bool = False  # publishing failed; the document stays ``received``


class Registrar(Protocol):
    """The document register the watcher hands complete files to."""

    def take(
        self, line: ScanLineConfig, path: Path, *, batch_id: int | None, publish: bool
    ) -> Taken:
        """Register ``path`` (inside the line's hot folder) and file it away.

        Raises the product's errors: a service error makes the whole line wait, any other
        only delays this file.
        """
        ...

    def batch_id(self, line: ScanLineConfig, name: str, known: int | None) -> int:
        """The batch (Stapel) of the folder ``name``: ``known`` if it still fits, else new."""
        ...

    def publish_backlog(self, line: ScanLineConfig) -> int:
        """Publish the line's documents still ``received`` (registered while the broker was
        away); return how many. Raises :class:`BrokerUnavailable` if it is away again."""
        ...


@dataclass(frozen=True)
class IntakeResult:
    """What happened to one file in one pass; ``outcome`` is the document state or above."""

    source_name: str
    outcome: str  # queued | received | duplicate | quarantined | deferred | vanished
    document_id: str | None = None
    batch_id: int | None = None
    destination: Path | None = None
    reason: str | None = None
    resumed: bool = False


class ScanLineWatcher:
    """Watches one scan line's hot folder; :meth:`scan_once` is one polling pass."""

    def __init__(
        self,
        settings: Settings,
        scan_line: ScanLineConfig,
        registrar: Registrar,
        *,
        observe: bool = True,
    ) -> None:
        self.settings = settings
        self.line = scan_line
        self.registrar = registrar
        self.tracker = hotfolder.StabilityTracker(settings.intake_stable_seconds, observe=observe)
        # Waiting out a service is capped short, so intake resumes soon after it returns.
        self.services = Backoff(settings.service_backoff)  # database, object store, the share
        self.broker = Backoff(settings.service_backoff)
        self._file_backoff: dict[Path, Backoff] = {}  # files that failed on their own
        self.lock = hotfolder.FolderLock(scan_line.hot_folder)
        self._standing_by = False

    def scan_once(self) -> list[IntakeResult]:
        """Take every complete file and batch folder; return what happened to each."""
        if self.services.active or not self._locked():
            return []
        self._publish_backlog()
        hot = self.line.hot_folder
        try:
            hotfolder.ensure_folders(hot)
            drops = hotfolder.list_drops(hot)
        except Exception as exc:
            self._defer_line(f"cannot read the hot folder {hot}", exc)
            return []
        self.tracker.forget_missing({drop.path for drop in drops})
        self._file_backoff = {p: b for p, b in self._file_backoff.items() if os.path.lexists(p)}
        results: list[IntakeResult] = []
        for drop in drops:
            if not self.tracker.is_stable(drop):
                continue
            if drop.is_batch:
                results.extend(self._take_batch(drop.path))
            elif not self._waiting(drop.path):
                results.append(self._take(drop.path))
            if self.services.active:
                break  # the database or object store is down for the next file too
        return results

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; never raises."""
        log.info(
            "%s: watching %s every %.1f s",
            self.line.id,
            self.line.hot_folder,
            self.settings.intake_poll_seconds,
        )
        while not stop.is_set():
            try:
                self.scan_once()
            except Exception:
                log.exception("%s: intake pass failed; the next poll tries again", self.line.id)
            stop.wait(self.settings.intake_poll_seconds)
        self.lock.release()
        log.info("%s: watcher stopped", self.line.id)

    def _locked(self) -> bool:
        """Hold the hot folder's lock, or stand by while another watcher holds it."""
        if self.lock.held:
            return True
        try:
            hotfolder.ensure_folders(self.line.hot_folder)
            if self.lock.acquire():
                if self._standing_by:
                    log.info("%s: took over the hot folder %s", self.line.id, self.line.hot_folder)
                self._standing_by = False
                return True
        except OSError as exc:
            log.warning("%s: cannot lock the hot folder: %s", self.line.id, exc)
            return False
        if not self._standing_by:
            log.warning("%s: another watcher takes the files of %s; standing by",
                        self.line.id, self.line.hot_folder)  # fmt: skip
            self._standing_by = True
        return False

    # -- the broker --------------------------------------------------------------------

    def _publish_backlog(self) -> None:
        """Once the broker's backoff has run out, publish what was registered without it.

        Files taken while the broker was away became documents in ``received``. Trying to
        publish them is the test whether the broker is back, and brings them to the
        workers right away instead of after the sweeper's ``requeue_after_seconds``.
        """
        if not self.broker.failures or self.broker.active:
            return
        try:
            published = self.registrar.publish_backlog(self.line)
        except BrokerUnavailable as exc:
            delay = self.broker.failed()
            log.warning(
                "%s: broker still unavailable, next try in %.1f s: %s", self.line.id, delay, exc
            )
            return
        except SERVICE_ERRORS as exc:
            self._defer_line("the documents waiting for the broker stay received", exc)
            return
        self.broker.succeeded()
        log.info("%s: broker is back; published %d waiting documents", self.line.id, published)

    # -- single files ----------------------------------------------------------------

    def _take(self, path: Path, batch_id: int | None = None) -> IntakeResult:
        publish = not self.broker.active
        name = self._display_name(path)
        try:
            taken = self.registrar.take(self.line, path, batch_id=batch_id, publish=publish)
        except Exception as exc:
            if isinstance(exc, SERVICE_ERRORS):
                reason = self._defer_line(f"{name} stays in the hot folder", exc)
            else:
                reason = self._defer_file(path, name, exc)
            return IntakeResult(name, DEFERRED, reason=reason)
        self.services.succeeded()
        self._file_backoff.pop(path, None)
        if taken.document_id is None:
            return IntakeResult(name, VANISHED)
        if taken.broker_failed:
            delay = self.broker.failed()
            log.warning(
                "%s: broker unavailable; documents wait as received, next try in %.1f s",
                self.line.id,
                delay,
            )
        elif publish and taken.state == S.QUEUED:
            self.broker.succeeded()
        return IntakeResult(
            taken.source_name,
            str(taken.state),
            taken.document_id,
            taken.batch_id,
            taken.destination,
            taken.reason,
            taken.resumed,
        )

    def _display_name(self, path: Path) -> str:
        try:
            return hotfolder.source_name(path.relative_to(self.line.hot_folder))
        except ValueError:
            return hotfolder.sanitize_name(path.name)

    def _waiting(self, path: Path) -> bool:
        backoff = self._file_backoff.get(path)
        return backoff is not None and backoff.active

    def _defer_line(self, what: str, exc: Exception) -> str:
        """A service is down: the whole scan line waits."""
        delay = self.services.failed()
        log.warning("%s: %s, retry in %.1f s: %s", self.line.id, what, delay, exc)
        return str(exc)

    def _defer_file(self, path: Path, name: str, exc: Exception) -> str:
        """Only this file failed (unreadable, cannot be moved): it waits, the others go on."""
        backoff = self._file_backoff.setdefault(path, Backoff(self.settings.backoff))
        delay = backoff.failed()
        if isinstance(exc, OSError | MailroomError):
            log.warning(
                "%s: %s stays in the hot folder, retry in %.1f s: %s",
                self.line.id,
                name,
                delay,
                exc,
            )
        else:  # a bug, not an outage: keep the traceback
            log.exception(
                "%s: %s stays in the hot folder, retry in %.1f s", self.line.id, name, delay
            )
        return str(exc)

    # -- batch folders (Stapel) ------------------------------------------------------

    def _take_batch(self, folder: Path) -> list[IntakeResult]:
        name = self._display_name(folder)
        try:
            files = [path for path, _st in hotfolder.walk_entries(folder, include_junk=False)]
            if not files:
                return []  # empty, or only junk: nothing to register, nothing to count
            batch_id = self._batch_id(folder)
        except Exception as exc:
            reason = self._defer_line(f"batch {name} stays in the hot folder", exc)
            return [IntakeResult(name, DEFERRED, reason=reason)]
        results: list[IntakeResult] = []
        for path in files:
            if self._waiting(path):
                continue
            results.append(self._take(path, batch_id))
            if self.services.active:
                break
        if any(r.outcome == DEFERRED for r in results) or any(map(self._waiting, files)):
            return results  # finished with the same batch id (marker) on a later poll
        (folder / hotfolder.BATCH_MARKER).unlink(missing_ok=True)
        hotfolder.remove_empty_folders(folder)
        log.info(
            "%s: batch %s (%s) taken: %d documents", self.line.id, batch_id, name, len(results)
        )
        return results

    def _batch_id(self, folder: Path) -> int:
        """The Batch row of this folder: the one named in its marker, or a new one."""
        name = hotfolder.source_name(hotfolder.relative_inside(self.line.hot_folder, folder))
        marker = folder / hotfolder.BATCH_MARKER
        known = _read_marker(marker)
        batch_id = self.registrar.batch_id(self.line, name, known)
        if batch_id == known:
            return batch_id
        tmp = marker.with_name(marker.name + ".tmp")
        tmp.write_text(str(batch_id))
        os.replace(tmp, marker)  # replaces a planted link itself, never its target
        return batch_id


def _read_marker(marker: Path) -> int | None:
    try:
        fd = os.open(marker, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd) as fh:
            return int(fh.read(32).strip())
    except (OSError, ValueError):
        return None
