"""``mailroom status`` and the live view of ``mailroom up``: where every document is."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from sqlalchemy import func, select

from mailroom.cli.common import app_context, console, report_errors
from mailroom.infra.db import models
from mailroom.runtime.context import AppContext
from mailroom.services.stats import scan_line_overview


def collect_status(ctx: AppContext, *, limit: int = 20) -> dict[str, Any]:
    """Scan lines, state counts, queue depths and the latest documents as plain data."""
    now = datetime.now(UTC)
    with ctx.db.session() as session:
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
        "queue": {"waiting": ctx.queue.depth(), "dead": ctx.queue.depth(dead=True)},
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
    q = data["queue"]
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
    """Show backlog per scan line, queue depth and where every recent document is."""
    ctx = app_context()
    data = collect_status(ctx, limit=limit)
    if as_json:
        print(json.dumps(data, ensure_ascii=False, default=str))
    else:
        console.print(render_status(data))


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
