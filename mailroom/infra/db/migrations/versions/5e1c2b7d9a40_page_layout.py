"""page layout

Revision ID: 5e1c2b7d9a40
Revises: a7f37903df24
Create Date: 2026-12-01 23:10:00.000000

``pages.layout`` keeps each page's blocks in reading order (kind, box, lines) as the worker
found them (``workers.layout``); pages processed before stay without one (NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5e1c2b7d9a40"
down_revision = "a7f37903df24"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("layout", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.drop_column("layout")
