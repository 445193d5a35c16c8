"""The file plan (Aktenplan) mirrored into the database, where documents and cases refer to it.

The YAML file (``config/fileplan.yaml``) is the source; the tables ``departments`` and
``fileplan_units`` follow it. Units and departments that left the plan stay as inactive
rows, because filed documents still refer to them.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.fileplan import FilePlan
from mailroom.infra.db import models


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
