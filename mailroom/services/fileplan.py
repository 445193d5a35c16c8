"""The file plan (Aktenplan) mirrored into the database, where documents and cases refer to it.

The YAML file (``config/fileplan.yaml``) is the source; the tables ``departments`` and
``fileplan_units`` follow it. Units and departments that left the plan stay as inactive
rows, because filed documents still refer to them.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.fileplan import FilePlan, load_file_plan
from mailroom.core.errors import BadInputError, ConfigurationError
from mailroom.infra.db import models
from mailroom.infra.db.audit import audit


def sync_file_plan(session: Session, fileplan: FilePlan) -> None:
    """Write departments and units of the file plan to the database; others go inactive.

    A department's ``auto_threshold`` is not copied: the router reads it from the file
    plan, and the database keeps only what an administrator set (``admin_threshold``).
    """
    depts = {d.id: d for d in session.scalars(select(models.Department))}
    for dept in fileplan.departments:
        row = depts.pop(dept.id, None) or models.Department(id=dept.id)
        row.name = dept.name
        row.aliases = list(dept.aliases)
        row.active = True
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


MAX_FILE_PLAN_BYTES = 5 * 1024 * 1024


def import_file_plan(
    session: Session, target: Path, filename: str, data: bytes, actor: str
) -> FilePlan:
    """Validate an uploaded file plan exactly like ``mailroom fileplan validate``, then make it
    the active one: written atomically to ``target`` (``settings.file_plan_target``: the
    data dir unless ``MAILROOM_FILE_PLAN`` names a file, never the installed package) and
    mirrored into the database. Raises :class:`~mailroom.core.errors.ConfigurationError`
    naming the bad line. Every process reloads the file when it changes.
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
    target.parent.mkdir(parents=True, exist_ok=True)
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
    return plan
