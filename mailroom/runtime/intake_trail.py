"""The intake's last audit entry, ``intake.done``: the source file has left the hot folder.

:mod:`mailroom.runtime.registration` writes it once the file is filed away (``moved_to``:
where it went, relative to the hot folder; None for a file registered in place); its
absence marks an intake that can be resumed. :mod:`mailroom.runtime.rejections` reads it
to put the reason for a worker's rejection beside the file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.scanlines import ScanLineConfig
from mailroom.core.errors import MailroomError
from mailroom.infra.db.audit import audit
from mailroom.infra.db.models import AuditEvent, Document
from mailroom.runtime.context import AppContext

log = logging.getLogger(__name__)

#: The audit action; written once per intake, after the file was moved.
DONE = "intake.done"


def mark_done(
    ctx: AppContext, doc: Document, actor: str, line: ScanLineConfig, destination: Path | None
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


def moved_to(session: Session, document_id: str) -> str | None:
    """Where the intake moved the document's file, relative to its hot folder."""
    detail = session.scalar(
        select(AuditEvent.detail)
        .where(AuditEvent.document_id == document_id, AuditEvent.action == DONE)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    where = (detail or {}).get("moved_to")
    return where if isinstance(where, str) else None
