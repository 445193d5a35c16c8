"""original request workflow and login failures

Revision ID: dbc0d66ed989
Revises: 32ca3d46ae46
Create Date: 2026-11-30 01:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mailroom.infra.db.models

revision = "dbc0d66ed989"
down_revision = "32ca3d46ae46"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", mailroom.infra.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=120), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failures_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failures_client"), ["client"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failures_username"), ["username"], unique=False)

    with op.batch_alter_table("original_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("department_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("handled_by", sa.String(length=120), nullable=True))
        batch_op.add_column(
            sa.Column(
                "handled_at", mailroom.infra.db.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_original_requests_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_original_requests_status"), ["status"], unique=False)
        batch_op.create_foreign_key(
            "fk_original_requests_department_id", "departments", ["department_id"], ["id"]
        )

    # Requests made before this revision belong to the department the document is in now;
    # the never-used status "sent" of the first schema means "provided".
    op.execute(
        "UPDATE original_requests SET department_id = ("
        "SELECT documents.department_id FROM documents "
        "WHERE documents.id = original_requests.document_id"
        ") WHERE department_id IS NULL"
    )
    op.execute("UPDATE original_requests SET status = 'provided' WHERE status = 'sent'")


def downgrade() -> None:
    with op.batch_alter_table("original_requests", schema=None) as batch_op:
        batch_op.drop_constraint("fk_original_requests_department_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_original_requests_status"))
        batch_op.drop_index(batch_op.f("ix_original_requests_department_id"))
        batch_op.drop_column("note")
        batch_op.drop_column("handled_at")
        batch_op.drop_column("handled_by")
        batch_op.drop_column("department_id")

    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_username"))
        batch_op.drop_index(batch_op.f("ix_login_failures_client"))
        batch_op.drop_index(batch_op.f("ix_login_failures_at"))

    op.drop_table("login_failures")
