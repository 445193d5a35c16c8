"""``mailroom status`` and the live view of ``mailroom up``: where every document is.

The answer comes from the database. The broker (queue depths) and the object store are
only asked within :data:`mailroom.services.health.PROBE_SECONDS` (the probes live in
:mod:`mailroom.services.health`, shared with the Leitstand): either may be down or hang,
and then status says so ("Broker nicht erreichbar") instead of waiting for it. Only an
unreachable database makes ``mailroom status`` fail (exit 75, try again later).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, make_url, select

from config.fileplan import load_file_plan
from config.settings import Settings
from mailroom.cli.common import console, report_errors, settings
from mailroom.core.errors import ExitCode
from mailroom.infra.db import models
from mailroom.infra.db.database import Database
from mailroom.infra.queue import DocumentQueue
from mailroom.runtime.context import AppContext
from mailroom.services import health
from mailroom.services.health import DOWN, OK, SERVICES, UNREACHABLE
from mailroom.services.stats import scan_line_overview

#: How long status waits for the database before calling it unreachable.
DATABASE_SECONDS = 10.0


def collect_status(ctx: AppContext, *, limit: int = 20) -> dict[str, Any]:
    """Scan lines, state counts, queue depths, latest documents and services as plain data."""
    return gather(
        ctx.db, ctx.queue, lambda: health.store_answers(ctx.settings, ctx.store), limit=limit
    )


def gather(
    db: Database, queue: DocumentQueue, probe_store: Callable[[], object], *, limit: int
) -> dict[str, Any]:
    """The status from the database, with whatever broker and object store answer in time.

    All three are asked at once (:func:`mailroom.services.health.ask`): a service that
    hangs costs at most its deadline, and the threads left waiting end with the process.
    """
    answers = health.ask(
        {
            "database": lambda: _from_database(db, limit),
            "broker": lambda: health.queue_depths(queue),
            "object_store": probe_store,
        },
        deadlines={"database": DATABASE_SECONDS},
    )
    services = {name: OK if answers[name] is not None else DOWN for name in SERVICES}
    empty: dict[str, Any] = {"scan_lines": [], "states": {}, "documents": []}
    queue_data: dict[str, int | None] = {"waiting": None, "dead": None, **(answers["broker"] or {})}
    return {**(answers["database"] or empty), "queue": queue_data, "services": services}


def _from_database(db: Database, limit: int) -> dict[str, Any]:
    """Scan lines, state counts and the latest documents."""
    now = datetime.now(UTC)
    with db.session() as session:
        lines = scan_line_overview(session, now=now)
        states = dict(
            session.execute(
                select(models.Document.state, func.count()).group_by(models.Document.state)
            ).all()
        )
        docs = session.scalars(
            select(models.Document).order_by(models.Document.received_at.desc()).limit(limit)
        ).all()
        documents = [
            {
                "document_id": d.id,
                "scan_line": d.scan_line_id,
                "file": d.source_name,
                "state": d.state,
                "received_at": d.received_at.isoformat(),
                "pages": d.page_count,
                "department": d.department_id,
                "unit": d.unit_code,
                "confidence": round(d.confidence, 3) if d.confidence is not None else None,
                "reason": d.state_reason,
            }
            for d in docs
        ]
    return {
        "scan_lines": [
            {
                "id": s.scan_line_id,
                "name": s.name,
                "waiting": s.waiting,
                "in_progress": s.in_progress,
                "done_today": s.done_today,
                "failed": s.failed,
                "oldest_waiting_seconds": s.oldest_waiting_seconds,
            }
            for s in lines
        ],
        "states": states,
        "documents": documents,
    }


def render_status(data: dict[str, Any]) -> Group:
    lines = Table(title="Scanstraßen", expand=False)
    for col in ("Scanstraße", "wartend", "in Arbeit", "heute fertig", "Fehler", "ältestes"):
        lines.add_column(col, justify="right" if col != "Scanstraße" else "left")
    for s in data["scan_lines"]:
        age = s["oldest_waiting_seconds"]
        lines.add_row(
            s["name"],
            str(s["waiting"]),
            str(s["in_progress"]),
            str(s["done_today"]),
            str(s["failed"]),
            f"{age:.0f} s" if age is not None else "-",
        )
    q = {k: "?" if v is None else v for k, v in data["queue"].items()}
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(data["states"].items())) or "keine"
    docs = Table(title=f"Dokumente (Zustände: {summary}; Queue {q['waiting']}, DLQ {q['dead']})")
    for col in ("Eingang", "Datei", "Zustand", "S.", "Amt", "Einheit", "Konf.", "Grund"):
        docs.add_column(col, overflow="fold")
    for d in data["documents"]:
        docs.add_row(
            d["received_at"][11:19],
            d["file"],
            d["state"],
            str(d["pages"] or ""),
            d["department"] or "",
            d["unit"] or "",
            f"{d['confidence']:.2f}" if d["confidence"] is not None else "",
            (d["reason"] or "")[:60],
        )
    return Group(lines, docs)


@report_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    limit: Annotated[int, typer.Option(help="How many recent documents to list")] = 20,
) -> None:
    """Show backlog per scan line, queue depth and where every recent document is.

    Says which service is unreachable; exits 75 only if the database is.
    """
    s = settings()
    load_file_plan(s.file_plan_path)  # a wrong --file-plan is an error for every command
    db = Database(s.db_url)
    if s.embedded:
        db.upgrade()  # a local SQLite file: nothing to wait for
    data = gather(db, DocumentQueue(s), lambda: health.store_answers(s), limit=limit)
    if as_json:
        print(json.dumps(data, ensure_ascii=False, default=str))
    else:
        for line in unreachable_lines(data["services"], s):
            console.print(f"[bold red]{escape(line)}[/]", highlight=False)
        if data["services"]["database"] == OK:
            console.print(render_status(data))
    if data["services"]["database"] != OK:
        raise typer.Exit(ExitCode.TEMPFAIL)


def unreachable_lines(services: dict[str, str], s: Settings) -> list[str]:
    """One line per service that did not answer, naming where it was looked for."""
    where = {
        "database": make_url(s.db_url).render_as_string(hide_password=True),
        "broker": DocumentQueue(s).describe(),
        "object_store": s.s3_endpoint or str(s.objects_dir),
    }
    return [
        f"{UNREACHABLE[name]} ({where[name]})" for name, state in services.items() if state != OK
    ]


class LiveStatus:
    """The refreshing status view of ``mailroom up``."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.live = Live(console=console, refresh_per_second=1, transient=False)
        self._last = 0.0

    def start(self) -> None:
        self.live.start()

    def refresh(self) -> None:
        import time

        if time.monotonic() - self._last < 2:
            return
        self._last = time.monotonic()
        self.live.update(render_status(collect_status(self.ctx, limit=12)))

    def stop(self) -> None:
        self.live.stop()


def first_admin_hint(ctx: AppContext) -> str | None:
    """Create the first admin if there is no user yet; say how to log in."""
    from mailroom.services.users import ensure_first_admin

    path = ctx.settings.data_dir / "initial-admin-password.txt"
    with ctx.db.session() as session:
        password = ensure_first_admin(session)
    if password:
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        # Created owner-only from the start: the password is never world-readable.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        tmp.replace(path)
        return f"Erste Anmeldung: Benutzer 'admin', Passwort '{password}' (auch in {path})"
    if path.exists():
        return f"Anmeldung als 'admin' mit dem Passwort aus {path}"
    return None
