"""Engine, sessions and migrations (the audit trail is in :mod:`mailroom.infra.db.audit`)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailroom.core.errors import DatabaseUnavailable, SchemaNotCurrent
from mailroom.infra.db.models import Document

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """Create the engine; SQLite gets WAL and a busy timeout so processes can share it."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        # A server that does not answer (host gone, network cut) costs a connection
        # attempt 10 s and an open connection about a minute (TCP keepalives), never
        # forever; the caller then waits the outage out with backoff.
        connect_args = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30,
                        "keepalives_interval": 10, "keepalives_count": 3}  # fmt: skip
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args
    )


class Database:
    """The SQL database: one engine and a session factory per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise DatabaseUnavailable(f"database error: {exc.orig}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def upgrade(self) -> None:
        """Apply all Alembic migrations (``mailroom db upgrade``).

        Several processes may start at once (watcher and workers): a lock makes them
        migrate one after the other — a file lock beside a SQLite database, an advisory
        lock on PostgreSQL.
        """
        if self.engine.dialect.name == "sqlite":
            db_file = self.engine.url.database
            lock_path = Path(db_file + ".migrate-lock") if db_file else None
            if lock_path is None:
                command.upgrade(alembic_config(self.url), "head")
                return
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            with lock_path.open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    command.upgrade(alembic_config(self.url), "head")
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
            return
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_lock(4242001)"))
            try:
                cfg = alembic_config(self.url)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
            finally:
                if self.engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(4242001)"))
                    conn.commit()

    def check_schema(self) -> None:
        """Refuse to work on a database whose schema is not this version's.

        Production databases are migrated by ``mailroom db upgrade`` (an operator's step,
        or the compose file's ``migrate`` service), not by every process that starts. A
        process started on an older or empty schema stops with what to do, instead of
        failing on the first missing table. Raises :class:`DatabaseUnavailable` if the
        database cannot be reached (the caller waits for it).
        """
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory.from_config(alembic_config(self.url)).get_heads())
        try:
            with self.engine.connect() as conn:
                current = set(MigrationContext.configure(conn).get_current_heads())
        except OperationalError as exc:
            raise DatabaseUnavailable(f"database error: {exc.orig}") from exc
        if current != heads:
            found = ", ".join(sorted(current)) or "empty"
            raise SchemaNotCurrent(
                f"the database schema is {found}, this version needs {', '.join(sorted(heads))}",
                hint="run `mailroom db upgrade` (once, before starting the processes)",
            )

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def get_document(session: Session, document_id: str) -> Document | None:
    return session.scalar(select(Document).where(Document.id == document_id))
