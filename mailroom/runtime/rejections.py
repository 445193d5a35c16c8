"""Reason files for documents the worker refused, so the scan centre sees them too.

Intake writes ``<name>.reason.txt`` into ``quarantine/`` when it refuses a file. A file
that passed intake but turned out bad in the worker (rasterising found it damaged) has
been moved to ``processed/``; when the worker quarantines or fails it for good,
:func:`note_rejection` writes the reason beside it there. Where the intake moved the file
is in its ``intake.done`` audit entry (:mod:`mailroom.runtime.intake_trail`), the scan
line's hot folder in the configuration. A worker faster than the intake's move finds no
such entry yet; the intake calls :func:`note_rejection` itself once it filed the file
away. A worker on another host, which does not see the hot folder, writes nothing; the
database has the reason either way.
"""

from __future__ import annotations

import logging
from pathlib import Path

from intake import hotfolder
from mailroom.core.states import DocumentState as S
from mailroom.infra.db.models import Document
from mailroom.runtime import intake_trail
from mailroom.runtime.context import AppContext

log = logging.getLogger(__name__)

_HEADINGS = {
    S.QUARANTINED: "Diese Datei wurde angenommen, bei der Verarbeitung aber als unbrauchbar "
    "erkannt (Quarantäne).",
    S.FAILED: "Diese Datei wurde angenommen, konnte aber nicht verarbeitet werden (Fehler).",
}


def note_rejection(ctx: AppContext, document_id: str) -> Path | None:
    """Write the reason beside the document's file in ``processed/``; the file's path.

    Never raises: the document's state is recorded already, and a reason file that
    cannot be written (hot folder not reachable, disk full) must not change that.
    """
    try:
        return _write(ctx, document_id)
    except Exception as exc:
        log.warning("document %s: no reason file for the scan centre: %s", document_id, exc)
        return None


def _write(ctx: AppContext, document_id: str) -> Path | None:
    with ctx.db.session() as session:
        doc = session.get(Document, document_id)
        if doc is None or doc.state not in _HEADINGS:
            return None
        moved_to = intake_trail.moved_to(session, document_id)
        line = next((line for line in ctx.scan_lines if line.id == doc.scan_line_id), None)
        if line is None or not moved_to or not moved_to.startswith(f"{hotfolder.PROCESSED}/"):
            # Registered in place (``mailroom process``), from a removed scan line, not
            # filed away yet (the intake writes the file then), or refused by intake itself.
            return None
        text = hotfolder.reason_text(
            _HEADINGS[S(doc.state)],
            name=doc.source_name,
            line=f"{line.id} – {line.name}",
            document_id=doc.id,
            sha256=doc.sha256,
            reason=doc.state_reason or "",
        )
    written = hotfolder.write_reason_beside(line.hot_folder, moved_to, text)
    if written is not None:
        log.info("document %s: reason file %s written for the scan centre", document_id, written)
    return written
