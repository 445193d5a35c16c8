"""The ``mailroom`` command line (typer + rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mailroom import __version__
from mailroom.cli import (
    cases,
    common,
    config_cmds,
    demo,
    models,
    retry,
    run,
    status,
    training,
    users,
    web,
)

app = typer.Typer(
    name="mailroom",
    help="Digitale Eingangspost: Scanstraßen, OCR, Aktenplan-Zuordnung, DMS-Metadaten.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def show_version(value: bool) -> None:
    """``--version``: print ``mailroom <version>`` and exit 0, before any command runs."""
    if value:
        print(f"mailroom {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    file_plan: Annotated[
        Path | None,
        typer.Option("--file-plan", help="File plan YAML (any command; also MAILROOM_FILE_PLAN)"),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data directory (MAILROOM_DATA_DIR)")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=show_version, is_eager=True, help="Print the version, exit"
        ),
    ] = False,
) -> None:
    common.file_plan_path(file_plan)
    common.data_dir_path(data_dir)
    common.setup_logging(log_level)


app.command()(run.up)
app.command()(run.watch)
app.command()(run.worker)
app.command()(run.process)
app.command()(status.status)
app.command()(retry.retry)
app.add_typer(config_cmds.db_app, name="db")
app.add_typer(config_cmds.fileplan_app, name="fileplan")


app.command()(demo.demo)
app.add_typer(cases.app, name="cases", help="Open cases (Vorgänge).")
app.add_typer(models.app, name="models", help="Router model versions.")
app.command()(training.train)
app.command()(training.evaluate)
app.command()(training.retrain)
app.add_typer(users.app, name="users", help="Users of the web application.")
app.command()(web.web)


def main() -> None:
    """Console-script entry point."""
    app(args=common.argv(), prog_name="mailroom")
