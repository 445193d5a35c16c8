"""``mailroom models list|show|promote|rollback``: router model versions."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from mailroom.cli.common import app_context, console, report_errors
from mailroom.infra.db.models import ModelVersion

app = typer.Typer(no_args_is_help=True)


def _pct(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else "–"


@app.command("list")
@report_errors
def list_() -> None:
    """All model versions, newest first."""
    registry = app_context().registry
    table = Table(
        "Version",
        "Status",
        "Erstellt",
        "Trainingsgröße",
        "Einheit-Genauigkeit",
        "Macro-F1",
        "Auto-Präzision",
        "Auto-Abdeckung",
    )
    for row in registry.list():
        m = row.metrics or {}
        table.add_row(
            row.version,
            row.status,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            str(row.training_size),
            _pct(m.get("unit_accuracy")),
            _pct(m.get("unit_macro_f1")),
            _pct(m.get("auto_precision")),
            _pct(m.get("auto_coverage")),
        )
    console.print(table)
    active = registry.active()
    if active is None:
        console.print(f"Kein Modell aktiv: Kaltstart ({registry.coldstart().version}).")


def _summary(row: ModelVersion) -> dict[str, Any]:
    metrics = dict(row.metrics or {})
    for bulky in ("unit_confusion", "precision_coverage", "per_class"):
        metrics.pop(bulky, None)
    return {
        "version": row.version,
        "status": row.status,
        "created_at": row.created_at.isoformat(),
        "sha256": row.sha256,
        "format_version": row.format_version,
        "sklearn_version": row.sklearn_version,
        "training_size": row.training_size,
        "object_key": row.object_key,
        "plot_key": row.plot_key,
        "notes": row.notes,
        "promoted_at": row.promoted_at.isoformat() if row.promoted_at else None,
        "metrics": metrics,
    }


@app.command()
@report_errors
def show(
    version: str,
    as_json: Annotated[bool, typer.Option("--json", help="All metrics as JSON")] = False,
) -> None:
    """One version with its metrics."""
    row = app_context().registry.show(version)
    data = _summary(row)
    if as_json:
        data["metrics"] = row.metrics
    console.print_json(json.dumps(data, default=str))


@app.command()
@report_errors
def promote(
    version: str, force: Annotated[bool, typer.Option(help="Promote even if it is worse")] = False
) -> None:
    """Make a version active (refused if it is worse on the same held-out data)."""
    row = app_context().registry.promote(version, force=force, actor="cli")
    console.print(f"Modell {row.version} ist jetzt aktiv.")


@app.command()
@report_errors
def rollback() -> None:
    """Re-activate the previously active version."""
    row = app_context().registry.rollback(actor="cli")
    console.print(f"Modell {row.version} ist wieder aktiv.")
