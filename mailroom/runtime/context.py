"""The application context: settings plus the services built from them, once per process."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from config.fileplan import FilePlan, load_file_plan
from config.scanlines import ScanLineConfig, load_scan_lines
from config.settings import Settings
from mailroom.infra.db import models
from mailroom.infra.db.database import Database
from mailroom.infra.objects import ObjectStore, open_object_store
from mailroom.infra.queue import DocumentQueue
from mailroom.services.fileplan import sync_file_plan

if TYPE_CHECKING:
    from mailroom.infra.tesseract import OcrEngine
    from mailroom.services.cases import OpenCaseIndex
    from mailroom.services.model_versions import ModelRegistry
    from workers.plausibility import WordList

log = logging.getLogger(__name__)


@dataclass
class AppContext:
    """Everything a command, worker or web request needs; built by :meth:`from_settings`."""

    settings: Settings
    db: Database
    store: ObjectStore
    fileplan: FilePlan
    scan_lines: list[ScanLineConfig] = field(default_factory=list)
    #: When the file plan's file was loaded (see :meth:`refresh_file_plan`).
    _file_plan_stamp: tuple[int, int] | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate: bool | None = None) -> AppContext:
        """Build the context. Embedded, the database is migrated automatically."""
        fileplan = load_file_plan(settings.file_plan_path)
        db = Database(settings.db_url)
        if migrate if migrate is not None else settings.embedded:
            db.upgrade()
        else:
            db.check_schema()
        ctx = cls(settings, db, open_object_store(settings), fileplan, load_scan_lines(settings))
        ctx._file_plan_stamp = _stamp(settings.file_plan_path)
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
    def vocabulary(self) -> WordList:
        """The German word list of the OCR plausibility checks, read once per process."""
        from workers.plausibility import wordlist

        return wordlist(self.settings.ocr_wordlist)

    @cached_property
    def registry(self) -> ModelRegistry:
        from mailroom.services.model_versions import ModelRegistry

        return ModelRegistry(self.db, self.store, self.fileplan, self.settings)

    @cached_property
    def cases(self) -> OpenCaseIndex:
        """This process's index of the open cases, rebuilt only when cases change."""
        from mailroom.services.cases import OpenCaseIndex

        return OpenCaseIndex(self.db)

    def use_file_plan(self, plan: FilePlan) -> None:
        """Route by ``plan`` from now on (after an import): the router is rebuilt for it."""
        self.fileplan = plan
        self.__dict__.pop("registry", None)
        self._file_plan_stamp = _stamp(self.settings.file_plan_path)

    def refresh_file_plan(self) -> bool:
        """Reload the file plan if its file changed (another process imported one).

        Cheap (one ``stat``); workers call it before each document, so an imported plan
        and its thresholds reach every worker without a restart. Returns True if reloaded.
        """
        path = self.settings.file_plan_path
        if _stamp(path) == self._file_plan_stamp:
            return False
        log.info("file plan %s changed; reloading it", path)
        self.use_file_plan(load_file_plan(path))
        return True

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


def _stamp(path: Path) -> tuple[int, int] | None:
    """What tells a changed file: modification time and size (None: missing)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
