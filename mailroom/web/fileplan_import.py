"""Importing a file plan (Aktenplan) through the Verwaltung page."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from config.fileplan import FilePlan, load_file_plan
from mailroom.core.errors import BadInputError, ConfigurationError
from mailroom.infra.db.audit import audit
from mailroom.runtime.context import AppContext
from mailroom.services.fileplan import sync_file_plan

MAX_FILE_PLAN_BYTES = 5 * 1024 * 1024


def import_file_plan(
    ctx: AppContext, session: Session, filename: str, data: bytes, actor: str
) -> FilePlan:
    """Validate an uploaded file plan exactly like ``mailroom fileplan validate``, then make it
    the active one: written atomically over ``MAILROOM_FILE_PLAN`` and mirrored into the
    database. Raises :class:`~mailroom.errors.ConfigurationError` naming the bad line.
    """
    if len(data) > MAX_FILE_PLAN_BYTES:
        raise BadInputError(f"file plan larger than {MAX_FILE_PLAN_BYTES // 1024 // 1024} MB")
    if not data.strip():
        raise BadInputError("the uploaded file plan is empty")
    # Keep the uploaded name so error messages name the file the admin knows.
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename).name)[:100] or "fileplan.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            plan = load_file_plan(path)
        except ConfigurationError as exc:
            raise ConfigurationError(exc.message.replace(str(path), name), hint=exc.hint) from exc
    target = ctx.settings.file_plan
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".fileplan-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    sync_file_plan(session, plan)
    audit(
        session,
        actor,
        "fileplan_import",
        source=name,
        departments=len(plan.departments),
        units=len(plan.units),
    )
    ctx.fileplan = plan
    return plan
