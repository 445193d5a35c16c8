"""The administrators' routing thresholds (Schwellenwerte), kept in the database.

Only what an administrator set under Verwaltung -> Schwellenwerte is stored here; which
threshold is in force for a department (admin > file plan > model > default) is decided in
:mod:`classifiers.thresholds`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailroom.infra.db.audit import audit
from mailroom.infra.db.models import Department


def admin_thresholds(session: Session) -> dict[str, float]:
    """The thresholds administrators set, by department (only those)."""
    rows = session.execute(
        select(Department.id, Department.admin_threshold).where(
            Department.admin_threshold.is_not(None)
        )
    )
    return {dept_id: float(value) for dept_id, value in rows if value is not None}


def set_admin_threshold(
    session: Session, dept: Department, value: float | None, actor: str
) -> None:
    """Set (or, with None, clear) a department's administrator threshold; audited."""
    previous = dept.admin_threshold
    dept.admin_threshold = value
    audit(session, actor, "threshold", department=dept.id, before=previous, after=value)
