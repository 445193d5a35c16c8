"""handwriting and page checks

Revision ID: 8c41f2a6d5e3
Revises: 5e1c2b7d9a40
Create Date: 2026-12-02 09:00:00.000000

Pages keep what the worker found about handwriting (``handwritten``: letter / notes, the
``handwriting`` regions), how the orientation was settled (``orientation_check``), whether a
second pass read the page (``second_pass``, false for pages processed before) and the share
of dictionary words (``dictionary_share``); documents keep their ``handwritten`` flag.
Pages and documents processed before stay without them (NULL).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "8c41f2a6d5e3"
down_revision = "5e1c2b7d9a40"
branch_labels = None
depends_on = None

PAGE_COLUMNS = (
    "handwritten",
    "handwriting",
    "orientation_check",
    "second_pass",
    "dictionary_share",
)


def upgrade() -> None:
    with op.batch_alter_table("pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handwritten", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("handwriting", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("orientation_check", sa.String(length=10), nullable=True))
        batch_op.add_column(
            sa.Column("second_pass", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("dictionary_share", sa.Float(), nullable=True))
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handwritten", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("handwritten")
    with op.batch_alter_table("pages", schema=None) as batch_op:
        for name in reversed(PAGE_COLUMNS):
            batch_op.drop_column(name)
