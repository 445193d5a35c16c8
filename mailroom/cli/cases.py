"""``mailroom cases import FILE.csv``: open cases (Vorgänge) from a specialist procedure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mailroom.cli.common import app_context, console, report_errors
from mailroom.services.cases import import_cases_csv

app = typer.Typer(no_args_is_help=True)


@app.command("import")
@report_errors
def import_(
    file: Annotated[Path, typer.Argument(help="CSV with aktenzeichen,unit,subject[,names]")],
) -> None:
    """Import or update open cases; importing the same file again changes nothing."""
    ctx = app_context()
    with ctx.db.session() as session:
        count = import_cases_csv(session, file, ctx.fileplan)
    console.print(f"{count} Vorgänge importiert bzw. aktualisiert.")
