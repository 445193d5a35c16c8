"""``mailroom db upgrade`` and ``mailroom fileplan validate|show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from config.fileplan import load_file_plan
from mailroom.cli.common import app_context, console, report_errors, settings

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
fileplan_app = typer.Typer(help="The file plan (Aktenplan).", no_args_is_help=True)


@db_app.command("upgrade")
@report_errors
def db_upgrade() -> None:
    """Apply all migrations, create the S3 bucket, mirror file plan and scan lines."""
    ctx = app_context(migrate=True)
    console.print(f"Datenbank aktuell: {ctx.db.engine.url.render_as_string(hide_password=True)}")
    console.print(f"Objektspeicher: {ctx.store.describe()}")
    ctx.close()


@fileplan_app.command("validate")
@report_errors
def fileplan_validate(
    path: Annotated[
        Path | None, typer.Argument(help="File plan YAML (default: configured)")
    ] = None,
) -> None:
    """Check a file plan; errors name the file and line."""
    plan = load_file_plan(path or settings().file_plan_path)
    console.print(
        f"[green]gültig[/]: {plan.name}, {len(plan.departments)} Leistungseinheiten, "
        f"{len(plan.units)} Aktenplaneinheiten"
    )


@fileplan_app.command("show")
@report_errors
def fileplan_show() -> None:
    """List the units of the configured file plan."""
    plan = load_file_plan(settings().file_plan_path)
    table = Table(title=plan.name)
    for col in ("Kennzeichen", "Titel", "Leistungseinheit", "Aufbewahrung", "Aussonderung"):
        table.add_column(col)
    for unit in plan.units:
        dept = plan.departments_by_id[unit.department]
        table.add_row(
            unit.code,
            unit.title,
            f"{dept.id} {dept.name}",
            f"{unit.retention_years} J." if unit.retention_years else "dauernd",
            unit.disposal,
        )
    console.print(table)
