"""Alembic migrations on SQLite and PostgreSQL: the head matches the table models, and an
upgrade keeps (and completes) the data written under the previous revision."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.orm import Session

from mailroom.infra.db.database import Database, alembic_config
from mailroom.infra.db.models import Base, Department, Document, ScanLine, UTCDateTime

INITIAL = "32ca3d46ae46"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        yield request.getfixturevalue("pg_url")
    else:
        yield f"sqlite:///{tmp_path / 'mailroom.db'}"


def test_migrated_schema_matches_the_models(db_url: str):
    db = Database(db_url)
    try:
        db.upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        db.dispose()
    assert diff == []


def test_upgrade_gives_earlier_requests_their_department_and_downgrade_works(db_url: str):
    cfg = alembic_config(db_url)
    command.upgrade(cfg, INITIAL)
    engine = sa.create_engine(db_url)
    try:
        with Session(engine) as session:
            session.add(Department(id="402", name="IT", aliases=[], active=True))
            session.add(ScanLine(id="scan-1", name="Scanstraße 1", hot_folder="scan-1"))
            session.flush()
            session.add(
                Document(
                    id="d" * 32,
                    scan_line_id="scan-1",
                    source_name="brief.pdf",
                    sha256="0" * 64,
                    size_bytes=1,
                    media_type="application/pdf",
                    state="routed",
                    department_id="402",
                )
            )
            session.commit()
        before = sa.table(
            "original_requests",
            sa.column("document_id"),
            sa.column("requested_by"),
            sa.column("requested_at", UTCDateTime()),
            sa.column("reason"),
            sa.column("status"),
        )
        with engine.begin() as conn:
            conn.execute(
                before.insert().values(
                    document_id="d" * 32,
                    requested_by="clerk402",
                    requested_at=datetime.now(UTC),
                    reason="alt",
                    status="open",
                )
            )
        engine.dispose()
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT department_id, status FROM original_requests")).one()
        assert tuple(row) == ("402", "open")
        engine.dispose()
        command.downgrade(cfg, INITIAL)
        command.upgrade(cfg, "head")
    finally:
        engine.dispose()
