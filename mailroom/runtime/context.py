"""The application context: settings plus the services built from them, once per process."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.fileplan import FilePlan, load_file_plan
from config.scanlines import ScanLineConfig, load_scan_lines
from config.settings import Settings
from mailroom.infra.db import models
from mailroom.infra.db.database import Database
from mailroom.infra.objects import ObjectStore, open_object_store
from mailroom.infra.queue import DocumentQueue

if TYPE_CHECKING:
    from mailroom.infra.tesseract import OcrEngine
    from mailroom.services.model_versions import ModelRegistry

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """Everything a command, worker or web request needs; built by :meth:`from_settings`."""

    settings: Settings
    db: Database
    store: ObjectStore
    fileplan: FilePlan
    scan_lines: list[ScanLineConfig] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate: bool | None = None) -> AppContext:
        """Build the context. Embedded, the database is migrated automatically."""
        fileplan = load_file_plan(settings.file_plan)
        db = Database(settings.db_url)
        if migrate if migrate is not None else settings.embedded:
            db.upgrade()
        ctx = cls(settings, db, open_object_store(settings), fileplan, load_scan_lines(settings))
        ctx.sync_configuration()
        return ctx

    @cached_property
    def queue(self) -> DocumentQueue:
        return DocumentQueue(self.settings)

    @cached_property
    def ocr(self) -> OcrEngine:
        from mailroom.infra.tesseract import TesseractEngine

        return TesseractEngine(
            language=self.settings.ocr_language, timeout=self.settings.ocr_timeout_seconds
        )

    @cached_property
    def registry(self) -> ModelRegistry:
        from mailroom.services.model_versions import ModelRegistry

        return ModelRegistry(self.db, self.store, self.fileplan, self.settings)

    def ocr_text(self, data: bytes, media_type: str | None = None) -> str:
        """Recognise a whole file (image or PDF) to plain text with the pipeline's stages."""
        from mailroom.runtime.pipeline import recognize_file

        pages = recognize_file(data, self, media_type=media_type)
        return "\n\n".join(ocr.text for _page, ocr in pages)

    def sync_configuration(self) -> None:
        """Mirror the file plan and scan lines into the database (idempotent)."""
        with self.db.session() as session:
            sync_file_plan(session, self.fileplan)
            for line in self.scan_lines:
                row = session.get(models.ScanLine, line.id) or models.ScanLine(id=line.id)
                row.name = line.name
                row.hot_folder = str(line.hot_folder)
                session.add(row)

    def close(self) -> None:
        self.db.dispose()


def sync_file_plan(session: Session, fileplan: FilePlan) -> None:
    """Write departments and units of the file plan to the database; others go inactive."""
    depts = {d.id: d for d in session.scalars(select(models.Department))}
    for dept in fileplan.departments:
        row = depts.pop(dept.id, None) or models.Department(id=dept.id)
        row.name = dept.name
        row.aliases = list(dept.aliases)
        row.active = True
        if dept.auto_threshold is not None:
            row.auto_threshold = dept.auto_threshold
        session.add(row)
    for row in depts.values():
        row.active = False
    session.flush()
    units = {u.code: u for u in session.scalars(select(models.FilePlanUnit))}
    for unit in fileplan.units:
        urow = units.pop(unit.code, None) or models.FilePlanUnit(code=unit.code)
        urow.title = unit.title
        urow.department_id = unit.department
        urow.retention_years = unit.retention_years
        urow.disposal = unit.disposal
        urow.description = unit.description
        urow.keywords = list(unit.keywords)
        urow.reference_patterns = list(unit.reference_patterns)
        urow.active = True
        session.add(urow)
    for urow in units.values():
        urow.active = False
