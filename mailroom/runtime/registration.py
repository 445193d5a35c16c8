"""Registering one scanned file: check, hash, record, store, publish, then move it away.

The order is what makes intake safe (Posteingang, revisionssicher):

1. copy the file to a private spool file while hashing it, and check the copy's headers
   (bad input becomes a ``quarantined`` row, never an exception; the file is never held
   in memory whole, and one that changes meanwhile is left for the next poll);
2. store the original, then commit the document row in state ``received`` — the database
   and the object store now hold the document. The original's key is its content's hash
   (:func:`~mailroom.infra.objects.original_key`), so a crash between the two leaves no
   orphan: the next attempt stores the same bytes under the same key again;
3. publish the queue message and mark the document ``queued``;
4. only then move the source file to ``processed/`` (or ``quarantine/`` with a reason file)
   and note that in the audit trail (``intake.done``).

A crash anywhere before step 4 leaves the file in the hot folder. On the next attempt the
same bytes with the same scan line and source name, registered but not yet ``intake.done``,
are *resumed* (published if still ``received``, then moved) instead of becoming a duplicate.
"""

from __future__ import annotations

import errno
import logging
import os
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from config.scanlines import ScanLineConfig
from intake import hotfolder, validate
from mailroom.core.errors import (
    BadInputError,
    FolderUnavailable,
    MailroomError,
    TransientError,
)
from mailroom.core.media import sniff_media_type
from mailroom.core.states import DocumentState as S
from mailroom.infra.db.models import AuditEvent, Batch, Document, new_id, utcnow
from mailroom.infra.objects import original_key
from mailroom.lifecycle import begin
from mailroom.runtime.context import AppContext
from mailroom.runtime.intake_trail import DONE, mark_done
from mailroom.runtime.publishing import publish_document
from mailroom.runtime.rejections import note_rejection

log = logging.getLogger(__name__)

UNKNOWN_TYPE = "application/octet-stream"
#: Errors of the spool folder's file system (full, read-only), not of the file read.
_FOLDER_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


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
    spooled: validate.Spooled | None = None  # the private copy, removed once recorded
    check: validate.ScanCheck | None = None
    media_type: str = UNKNOWN_TYPE
    problem: BadInputError | None = None

    def close(self) -> None:
        if self.spooled is not None:
            self.spooled.discard()


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

    Raises :class:`TransientError` (database or object store down, file unreadable, not
    movable or still being written: :class:`~intake.validate.FileChanged`) and
    :class:`ConfigurationError` (``processed/`` is not a plain folder); the source file then
    stays where it is and the next attempt resumes the same document.
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
    with ctx.db.session() as session, closing(content):
        doc = _unfinished(session, scan_line.id, name, content)
        resumed = doc is not None
        if doc is None:
            doc = _record(session, ctx, scan_line, name, content, batch_id, actor)
            _still_unchanged(session, ctx, path, content, doc)
    if resumed:
        log.info(
            "%s: resuming the interrupted intake of %s (document %s, %s)",
            scan_line.id,
            name,
            doc.id,
            doc.state,
        )
    broker_failed = publish and doc.state == S.RECEIVED and not publish_document(ctx, doc, actor)
    destination = _file_away(scan_line, path, relative, doc) if move else None
    mark_done(ctx, doc, actor, scan_line, destination)
    if destination is not None and doc.state != S.QUARANTINED:
        note_rejection(ctx, doc.id)  # a worker faster than the move may have refused it
    _log_outcome(scan_line, name, doc, content, resumed)
    return Intake(doc, destination, resumed, broker_failed)


# --- reading ----------------------------------------------------------------------------


def _inspect(path: Path, ctx: AppContext) -> _Content | None:
    """Copy and check the file; a problem with the *input* is returned, not raised."""
    try:
        st = os.lstat(path)
        validate.refuse_special(st)
        spooled = validate.spool(path, ctx.settings.data_dir / "spool", ctx.settings.max_file_bytes)
    except FileNotFoundError:
        return None
    except BadInputError as exc:
        return _Content(size=st.st_size, problem=exc)
    except OSError as exc:
        if exc.errno in _FOLDER_ERRNOS:  # the spool folder's disk, not the file
            raise FolderUnavailable(
                f"cannot copy {path.name} to the spool folder: {exc.strerror}",
                hint="free space under the data folder; the file is retried",
            ) from exc
        raise TransientError(
            f"cannot read {path.name}: {exc.strerror}",
            hint="check the hot folder's permissions; the file is retried",
        ) from exc
    try:
        return _checked(spooled, ctx)
    except BaseException:
        spooled.discard()
        raise


def _checked(spooled: validate.Spooled, ctx: AppContext) -> _Content:
    size, sha = spooled.size, spooled.sha256
    try:
        check = validate.check_scan(spooled.path, ctx.settings)
    except BadInputError as exc:
        return _Content(size, sha, spooled, media_type=_sniff(spooled.path), problem=exc)
    return _Content(size, sha, spooled, check, check.media_type)


def _sniff(path: Path) -> str:
    try:
        return sniff_media_type(validate.read_head(path))
    except BadInputError:
        return UNKNOWN_TYPE


def _still_unchanged(
    session: Session, ctx: AppContext, path: Path, content: _Content, doc: Document
) -> None:
    """Record nothing if the source changed while its copy was checked and stored: a
    writer that paused longer than the stability time is writing again.

    The original just stored for nothing is deleted unless another row points at its key
    (keys are content hashes: a document a worker quarantined, or its duplicates, may have
    the same bytes). Rows another intake has not committed yet are not seen; that would
    take the same half-written bytes at the same moment. If the check or the delete fails,
    the object stays: an orphan at worst, never a row without its original.
    """
    if content.spooled is None:
        return
    try:
        validate.ensure_unchanged(path, content.spooled)
    except validate.FileChanged:
        if doc.state == S.RECEIVED and doc.original_key:  # uploaded just now, for nothing
            with suppress(MailroomError, SQLAlchemyError):
                if not _shared(session, doc):
                    ctx.store.delete(doc.original_key)
        raise


def _shared(session: Session, doc: Document) -> bool:
    """Another document row points at ``doc``'s original (same bytes, same key)."""
    other = select(Document.id).where(
        Document.sha256 == doc.sha256,  # indexed; equal keys mean equal hashes
        Document.original_key == doc.original_key,
        Document.id != doc.id,
    )
    return session.scalar(other.limit(1)) is not None


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
    """Insert the document (and a one-document batch); store the original first.

    The original goes under its content's key: stored again after an interrupted intake
    it overwrites the same object, and a duplicate takes its original's key, no copy.
    """
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
    assert content.spooled is not None and content.check is not None
    key = original_key(content.sha256, content.check.extension)
    ctx.store.put_file(
        key,
        content.spooled.path,
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
    return hotfolder.reason_text(
        "Diese Datei wurde nicht angenommen (Quarantäne).",
        name=doc.source_name,
        line=f"{line.id} – {line.name}",
        document_id=doc.id,
        sha256=doc.sha256,
        reason=doc.state_reason or "",
    )


def _log_outcome(
    line: ScanLineConfig, name: str, doc: Document, content: _Content, resumed: bool
) -> None:
    if doc.state == S.QUARANTINED:
        log.warning("%s: quarantined %s as document %s: %s", line.id, name, doc.id,
                    doc.state_reason)  # fmt: skip
    elif doc.state == S.DUPLICATE:
        log.info("%s: %s is a duplicate of document %s (document %s)", line.id, name,
                 doc.duplicate_of, doc.id)  # fmt: skip
    else:
        log.info("%s: %s %s (%s, pages: %s) as document %s in batch %s, %s", line.id,
                 "resumed" if resumed else "took", name, content.media_type,
                 content.check.pages if content.check else "?", doc.id, doc.batch_id,
                 doc.state)  # fmt: skip
