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
from mailroom.infra.db.models import Base, ScanLine, UTCDateTime

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
            # Core, not the model: the departments table of that revision has other columns.
            session.execute(
                sa.text(
                    "INSERT INTO departments (id, name, aliases, auto_threshold, active)"
                    " VALUES ('402', 'IT', '[]', NULL, :yes)"
                ),
                {"yes": True},
            )
            session.add(ScanLine(id="scan-1", name="Scanstraße 1", hot_folder="scan-1"))
            session.flush()
            # Core again: the model's documents table has columns added later.
            session.execute(
                sa.text(
                    "INSERT INTO documents (id, scan_line_id, source_name, sha256, size_bytes,"
                    " media_type, state, attempts, received_at, updated_at, department_id)"
                    " VALUES (:id, 'scan-1', 'brief.pdf', :sha, 1, 'application/pdf', 'routed',"
                    " 0, :now, :now, '402')"
                ),
                {"id": "d" * 32, "sha": "0" * 64, "now": datetime.now(UTC)},
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


BEFORE_ADMIN_THRESHOLDS = "dbc0d66ed989"


def test_upgrade_keeps_only_thresholds_an_admin_set_and_dates_the_cases(db_url: str):
    cfg = alembic_config(db_url)
    command.upgrade(cfg, BEFORE_ADMIN_THRESHOLDS)
    engine = sa.create_engine(db_url)
    created = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            _old_thresholds_and_a_case(conn, created)
        engine.dispose()
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, admin_threshold FROM departments"))
            kept: dict[str, float | None] = {dept: value for dept, value in rows}
            updated = conn.execute(
                sa.select(sa.column("updated_at", UTCDateTime())).select_from(sa.table("cases"))
            ).scalar_one()
        assert kept == {"402": 0.92, "209": None, "304": None, "101": 0.95}
        assert updated == created
        engine.dispose()
        command.downgrade(cfg, BEFORE_ADMIN_THRESHOLDS)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, auto_threshold FROM departments"))
            back: dict[str, float | None] = {dept: value for dept, value in rows}
        assert back == kept
    finally:
        engine.dispose()


def _old_thresholds_and_a_case(conn: sa.Connection, created: datetime) -> None:
    """Thresholds as the old code left them: admin values mixed with copies of the YAML."""
    departments = sa.table(
        "departments",
        sa.column("id"),
        sa.column("name"),
        sa.column("aliases", sa.JSON()),
        sa.column("auto_threshold"),
        sa.column("active"),
    )
    conn.execute(
        departments.insert(),
        [
            # 402: the admin's latest value; 209: a copy of the YAML, never audited;
            # 304: the admin cleared it, then a start copied the YAML in again;
            # 101: the admin's 0.95 was overwritten by a start copying the YAML's 0.7.
            {"id": i, "name": i, "aliases": [], "auto_threshold": v, "active": True}
            for i, v in (("402", 0.92), ("209", 0.97), ("304", 0.9), ("101", 0.7))
        ],
    )
    events = sa.table(
        "audit_events",
        sa.column("at", UTCDateTime()),
        sa.column("actor"),
        sa.column("action"),
        sa.column("detail", sa.JSON()),
    )
    conn.execute(
        events.insert(),
        [
            {"at": created, "actor": "admin", "action": "threshold", "detail": detail}
            for detail in (
                {"department": "402", "before": None, "after": 0.8},
                {"department": "304", "before": None, "after": 0.75},
                {"department": "402", "before": 0.8, "after": 0.92},
                {"department": "304", "before": 0.75, "after": None},
                {"department": "101", "before": None, "after": 0.95},
            )
        ]
        + [{"at": created, "actor": "admin", "action": "fileplan_import", "detail": {"x": 1}}],
    )
    conn.execute(
        sa.text(
            "INSERT INTO fileplan_units (code, title, department_id, retention_years, disposal,"
            " description, keywords, reference_patterns, active)"
            " VALUES ('402.12', 'IT', '402', 10, 'B', '', '[]', '[]', :yes)"
        ),
        {"yes": True},
    )
    cases = sa.table(
        "cases",
        sa.column("aktenzeichen"),
        sa.column("reference_key"),
        sa.column("unit_code"),
        sa.column("subject"),
        sa.column("names", sa.JSON()),
        sa.column("status"),
        sa.column("created_at", UTCDateTime()),
        sa.column("created_by"),
    )
    conn.execute(
        cases.insert().values(
            aktenzeichen="402.12-1/24",
            reference_key="402121",
            unit_code="402.12",
            subject="",
            names=[],
            status="open",
            created_at=created,
            created_by="import",
        )
    )


BEFORE_HANDWRITING = "5e1c2b7d9a40"


def test_pages_read_before_the_handwriting_columns_keep_them_empty(db_url: str):
    cfg = alembic_config(db_url)
    command.upgrade(cfg, BEFORE_HANDWRITING)
    engine = sa.create_engine(db_url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO scan_lines VALUES ('scan-1', 'Scan 1', 'scan-1')"))
            conn.execute(
                sa.text(
                    "INSERT INTO documents (id, scan_line_id, source_name, sha256, size_bytes,"
                    " media_type, state, attempts, received_at, updated_at)"
                    " VALUES (:id, 'scan-1', 'b.pdf', :sha, 1, 'application/pdf', 'routed', 0,"
                    " :now, :now)"
                ),
                {"id": "d" * 32, "sha": "0" * 64, "now": now},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO pages (document_id, number, width, height, rotation,"
                    " skew_degrees, blank, text, low_confidence_regions)"
                    " VALUES (:id, 1, 10, 10, 0, 0.0, :no, '', '[]')"
                ),
                {"id": "d" * 32, "no": False},
            )
        engine.dispose()
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            page = conn.execute(
                sa.text(
                    "SELECT handwritten, handwriting, orientation_check, second_pass,"
                    " dictionary_share FROM pages"
                )
            ).one()
            flag = conn.execute(sa.text("SELECT handwritten FROM documents")).scalar_one()
        assert tuple(page) == (None, None, None, False, None) and flag is None
        engine.dispose()
        command.downgrade(cfg, BEFORE_HANDWRITING)
        command.upgrade(cfg, "head")
    finally:
        engine.dispose()
