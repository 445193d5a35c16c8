"""admin thresholds and case watermark

Revision ID: a7f37903df24
Revises: dbc0d66ed989
Create Date: 2026-12-01 19:25:30.167511

``departments.auto_threshold`` held both the file plan's value (copied in at every start)
and what an administrator set. It becomes ``admin_threshold`` and keeps only the latter: the
latest "threshold" audit event of a department says what the administrator set last
(``after``; ``None`` means cleared). Values without such an event were copies of the YAML
and are dropped; the file plan is read directly now.

``cases.updated_at`` is the watermark of the per-process open-case index; existing cases
start at their creation time.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import mailroom.infra.db.models

revision = "a7f37903df24"
down_revision = "dbc0d66ed989"
branch_labels = None
depends_on = None

_audit = sa.table(
    "audit_events",
    sa.column("id", sa.Integer()),
    sa.column("action", sa.String()),
    sa.column("detail", sa.JSON()),
)
_departments = sa.table(
    "departments", sa.column("id", sa.String()), sa.column("admin_threshold", sa.Float())
)


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "updated_at", mailroom.infra.db.models.UTCDateTime(timezone=True), nullable=True
            )
        )
    op.execute("UPDATE cases SET updated_at = created_at")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.alter_column(
            "updated_at",
            existing_type=mailroom.infra.db.models.UTCDateTime(timezone=True),
            nullable=False,
        )
        batch_op.create_index(batch_op.f("ix_cases_updated_at"), ["updated_at"], unique=False)

    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.alter_column(
            "auto_threshold", new_column_name="admin_threshold", existing_type=sa.Float()
        )
    _keep_only_admin_values()


def _keep_only_admin_values() -> None:
    conn = op.get_bind()
    admin_values = _latest_admin_values(conn)
    conn.execute(_departments.update().values(admin_threshold=None))
    for dept_id, value in admin_values.items():
        conn.execute(
            _departments.update()
            .where(_departments.c.id == dept_id)
            .values(admin_threshold=float(value))
        )


def _latest_admin_values(conn: sa.Connection) -> dict[str, float]:
    """Per department the ``after`` of its latest "threshold" audit event, if a number."""
    latest: dict[str, Any] = {}
    rows = conn.execute(
        sa.select(_audit.c.detail).where(_audit.c.action == "threshold").order_by(_audit.c.id)
    )
    for (detail,) in rows:
        if isinstance(detail, dict) and detail.get("department"):
            latest[str(detail["department"])] = detail.get("after")
    return {
        dept: float(value)
        for dept, value in latest.items()
        if isinstance(value, int | float) and 0 < value <= 1
    }


def downgrade() -> None:
    # The old code copies the file plan's values back in at its next start.
    with op.batch_alter_table("departments", schema=None) as batch_op:
        batch_op.alter_column(
            "admin_threshold", new_column_name="auto_threshold", existing_type=sa.Float()
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_updated_at"))
        batch_op.drop_column("updated_at")
