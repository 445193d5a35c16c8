"""Registering one scanned file: check, hash, record, store, publish, then move it away.

The order is what makes intake safe (Posteingang, revisionssicher):

1. read and check the file (bad input becomes a ``quarantined`` row, never an exception);
2. store the original, then commit the document row in state ``received`` — the database
   and the object store now hold the document;
3. publish the queue message and mark the document ``queued``;
4. only then move the source file to ``processed/`` (or ``quarantine/`` with a reason file)
   and note that in the audit trail (``intake.done``).

A crash anywhere before step 4 leaves the file in the hot folder. On the next attempt the
same bytes with the same scan line and source name, registered but not yet ``intake.done``,
are *resumed* (published if still ``received``, then moved) instead of becoming a duplicate.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.scanlines import ScanLineConfig
from intake import hotfolder
from intake.validate import ScanCheck, check_scan, read_limited
from mailroom.core.errors import (
    BadInputError,
    BrokerUnavailable,
    MailroomError,
    TransientError,
    UnsafePath,
)
from mailroom.core.media import sniff_media_type
from mailroom.core.states import DocumentState as S
from mailroom.infra.db.audit import audit
from mailroom.infra.db.models import AuditEvent, Batch, Document, new_id, utcnow
from mailroom.infra.objects import document_key
from mailroom.infra.queue import DocumentMessage
from mailroom.lifecycle import IllegalTransition, begin, transition
from mailroom.runtime.context import AppContext

log = logging.getLogger(__name__)

#: Audit action written once the source file has left the hot folder (or, for a file
#: registered in place, once registration is complete). Its absence marks a resumable intake.
DONE = "intake.done"
UNKNOWN_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Intake:
    """The outcome of taking one file."""

    document: Document | None  # None: the file vanished before it could be read
    destination: Path | None = None  # where the source file was moved to
    resumed: bool = False  # an interrupted earlier intake was finished
    broker_failed: bool = False  # publishing failed; the document stays ``received``


@dataclass(frozen=True)
class _Content:
    size: int
    sha256: str = ""
    data: bytes | None = None
    check: ScanCheck | None = None
    media_type: str = UNKNOWN_TYPE
    problem: BadInputError | None = None


def register_file(
    ctx: AppContext,
    scan_line: ScanLineConfig,
    path: Path,
    *,
    batch_id: int | None = None,
    move: bool = True,
    publish: bool = True,
) -> Document | None:
    """Register one scanned file as a document and return its row.

    ``move=True`` (the hot-folder case) requires ``path`` to lie inside the scan line's hot
    folder and moves it to ``processed/`` or ``quarantine/`` afterwards; ``move=False``
    registers a file anywhere and leaves it in place (``mailroom process FILE``).
    ``publish=False`` leaves the document ``received`` for a caller that processes it
    itself (or for the sweeper). ``batch_id`` None makes a one-document batch (Stapel).

    Bad input never raises: the document comes back ``quarantined`` with ``state_reason``.
    A broker outage does not raise either: the document stays ``received`` and the
    sweeper publishes it later. Returns None if the file vanished.

    Raises :class:`TransientError` (database or object store down, file unreadable or not
    movable) and :class:`ConfigurationError` (``processed/`` is not a plain folder); the
    source file then stays where it is and the next attempt resumes the same document.
    Raises :class:`UnsafePath` if ``move=True`` and ``path`` is outside the hot folder.
    A file registered once with ``move=False`` counts as a duplicate the second time.
    """
    return take_file(ctx, scan_line, path, batch_id=batch_id, move=move, publish=publish).document


def take_file(
    ctx: AppContext,
    scan_line: ScanLineConfig,
    path: Path,
    *,
    batch_id: int | None = None,
    move: bool = True,
    publish: bool = True,
) -> Intake:
    """Like :func:`register_file`, also telling where the file went and whether it resumed."""
    if move:
        relative = hotfolder.relative_inside(scan_line.hot_folder, path)
    else:
        relative = PurePosixPath(path.name)
    name = hotfolder.source_name(relative)
    content = _inspect(path, ctx)
    if content is None:
        log.info("%s: %s vanished before it could be read", scan_line.id, name)
        return Intake(None)
    actor = f"intake:{scan_line.id}"
    with ctx.db.session() as session:
        doc = _unfinished(session, scan_line.id, name, content)
        resumed = doc is not None
        if doc is None:
            doc = _record(session, ctx, scan_line, name, content, batch_id, actor)
    if resumed:
        log.info(
            "%s: resuming the interrupted intake of %s (document %s, %s)",
            scan_line.id,
            name,
            doc.id,
            doc.state,
        )
    broker_failed = publish and doc.state == S.RECEIVED and not _publish(ctx, doc, actor)
    destination = _file_away(scan_line, path, relative, doc) if move else None
    _mark_done(ctx, doc, actor, scan_line, destination)
    _log_outcome(scan_line, name, doc, content, resumed)
    return Intake(doc, destination, resumed, broker_failed)


# --- reading ----------------------------------------------------------------------------


def _inspect(path: Path, ctx: AppContext) -> _Content | None:
    """Read and check the file; a problem with the *input* is returned, not raised."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath("symbolic links are refused", hint="put the file itself in the folder")
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath("not a regular file", hint="only plain files are taken")
        data = read_limited(path, ctx.settings.max_file_bytes)
    except FileNotFoundError:
        return None
    except BadInputError as exc:
        return _Content(size=st.st_size, problem=exc)
    except OSError as exc:
        raise TransientError(
            f"cannot read {path.name}: {exc.strerror}",
            hint="check the hot folder's permissions; the file is retried",
        ) from exc
    sha = hashlib.sha256(data).hexdigest()
    try:
        check = check_scan(data, ctx.settings)
    except BadInputError as exc:
        return _Content(len(data), sha, data, media_type=_sniff(data), problem=exc)
    return _Content(len(data), sha, data, check, check.media_type)


def _sniff(data: bytes) -> str:
    try:
        return sniff_media_type(data)
    except BadInputError:
        return UNKNOWN_TYPE


# --- recording --------------------------------------------------------------------------


def _unfinished(session: Session, line_id: str, name: str, content: _Content) -> Document | None:
    """An earlier intake of the same bytes under the same name that never finished."""
    done = select(AuditEvent.id).where(
        AuditEvent.document_id == Document.id, AuditEvent.action == DONE
    )
    return session.scalar(
        select(Document)
        .where(
            Document.scan_line_id == line_id,
            Document.source_name == name,
            Document.sha256 == content.sha256,
            Document.size_bytes == content.size,
            ~done.exists(),
        )
        .order_by(Document.received_at.desc())
        .limit(1)
    )


def _original_of(session: Session, sha256: str) -> Document | None:
    """The first document with these bytes (a duplicate points at it)."""
    return session.scalar(
        select(Document)
        .where(Document.sha256 == sha256, Document.state.not_in((S.QUARANTINED, S.DUPLICATE)))
        .order_by(Document.received_at)
        .limit(1)
    )


def _record(
    session: Session,
    ctx: AppContext,
    line: ScanLineConfig,
    name: str,
    content: _Content,
    batch_id: int | None,
    actor: str,
) -> Document:
    """Insert the document (and a one-document batch); store the original first."""
    if batch_id is None:
        batch = Batch(scan_line_id=line.id, name=name)
        session.add(batch)
        session.flush()
        batch_id = batch.id
    doc = Document(
        id=new_id(),
        scan_line_id=line.id,
        batch_id=batch_id,
        source_name=name,
        sha256=content.sha256,
        size_bytes=content.size,
        media_type=content.media_type,
        received_at=utcnow(),
    )
    # Looked up before the new row is added: autoflush would otherwise find the row itself.
    original = None if content.problem else _original_of(session, content.sha256)
    session.add(doc)
    if content.problem is not None:
        begin(
            session,
            doc,
            S.QUARANTINED,
            actor,
            reason=str(content.problem),
            error=type(content.problem).__name__,
            source_name=name,
        )
        return doc
    if original is not None:
        doc.duplicate_of = original.id
        doc.original_key = original.original_key  # same bytes: no second copy
        begin(
            session,
            doc,
            S.DUPLICATE,
            actor,
            reason=f"same content as document {original.id} ({original.source_name})",
            duplicate_of=original.id,
            source_name=name,
        )
        return doc
    assert content.data is not None and content.check is not None
    key = document_key(doc.id, f"original.{content.check.extension}")
    ctx.store.put(
        key,
        content.data,
        content.media_type,
        {"scan-line": line.id, "sha256": content.sha256, "source-name": name},
    )
    doc.original_key = key
    begin(
        session,
        doc,
        S.RECEIVED,
        actor,
        sha256=content.sha256,
        source_name=name,
        pages=content.check.pages,
        original_key=key,
    )
    return doc


def _publish(ctx: AppContext, doc: Document, actor: str) -> bool:
    """Publish and mark ``queued``; a broker outage leaves the document ``received``.

    Returns False if the broker was unavailable.

    The update is conditional: a fast worker may already have claimed the document after
    the message went out, and its state must not be overwritten.
    """
    try:
        ctx.queue.publish(DocumentMessage(doc.id))
    except BrokerUnavailable as exc:
        log.warning("document %s stays received, the sweeper will publish it: %s", doc.id, exc)
        return False
    with ctx.db.session() as session, suppress(IllegalTransition):
        session.add(doc)  # attached again, the caller's copy follows the transition
        # Raises if a worker claimed the document already: its state must stand.
        transition(session, doc.id, S.QUEUED, actor, expect=(S.RECEIVED,))
    return True


# --- filing the source away -------------------------------------------------------------


def _file_away(line: ScanLineConfig, path: Path, relative: PurePosixPath, doc: Document) -> Path:
    """Move the source file to ``processed/`` or ``quarantine/`` (with a reason file)."""
    hot = line.hot_folder
    hotfolder.ensure_folders(hot)
    if doc.state != S.QUARANTINED:
        destination = hotfolder.destination_for(hot, hotfolder.PROCESSED, relative)
        hotfolder.move_file(path, destination)
        return destination
    destination = hotfolder.destination_for(hot, hotfolder.QUARANTINE, relative)
    reason = hotfolder.write_reason_file(destination, _reason_text(line, doc))
    try:
        hotfolder.move_file(path, destination)
    except TransientError:
        reason.unlink(missing_ok=True)  # no orphan reason file; the next attempt writes one
        raise
    return destination


def _reason_text(line: ScanLineConfig, doc: Document) -> str:
    """The reason file a person at the scan centre reads (German)."""
    return (
        "Diese Datei wurde nicht angenommen (Quarantäne).\n\n"
        f"Datei:       {doc.source_name}\n"
        f"Scanstraße:  {line.id} – {line.name}\n"
        f"Dokument-ID: {doc.id}\n"
        f"SHA-256:     {doc.sha256 or '(nicht gelesen)'}\n"
        f"Zeitpunkt:   {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        f"Grund:       {doc.state_reason}\n\n"
        "Was tun: Ursache beheben (z. B. neu scannen oder als TIFF/PDF exportieren) und die\n"
        "Datei erneut in den Hot-Folder legen.\n"
    )


def _mark_done(
    ctx: AppContext,
    doc: Document,
    actor: str,
    line: ScanLineConfig,
    destination: Path | None,
) -> None:
    """Record that the source file has left the hot folder (ends the resume window)."""
    moved_to = (
        destination.relative_to(line.hot_folder.resolve()).as_posix() if destination else None
    )
    try:
        with ctx.db.session() as session:
            audit(session, actor, DONE, document_id=doc.id, moved_to=moved_to)
    except MailroomError as exc:
        # The file is already filed away, so there is nothing to retry; only a later file
        # with identical bytes and name would be resumed instead of counted as duplicate.
        log.warning("document %s: could not note the finished intake: %s", doc.id, exc)


def _log_outcome(
    line: ScanLineConfig, name: str, doc: Document, content: _Content, resumed: bool
) -> None:
    how = "resumed" if resumed else "took"
    if doc.state == S.QUARANTINED:
        log.warning(
            "%s: quarantined %s as document %s: %s", line.id, name, doc.id, doc.state_reason
        )
    elif doc.state == S.DUPLICATE:
        log.info(
            "%s: %s is a duplicate of document %s (document %s)",
            line.id,
            name,
            doc.duplicate_of,
            doc.id,
        )
    else:
        pages = content.check.pages if content.check else "?"
        log.info(
            "%s: %s %s (%s, pages: %s) as document %s in batch %s, %s",
            line.id,
            how,
            name,
            content.media_type,
            pages,
            doc.id,
            doc.batch_id,
            doc.state,
        )
