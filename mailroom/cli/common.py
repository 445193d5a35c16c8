"""What every CLI command shares: options, settings, the app context, error handling."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from config.settings import Settings, load_settings
from mailroom.core.errors import MailroomError
from mailroom.runtime import logs
from mailroom.runtime.context import AppContext

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

#: Set by the root callback from ``--file-plan`` / ``--data-dir``.
OVERRIDES: dict[str, Any] = {}


def settings() -> Settings:
    """The validated settings, with the command line's overrides applied."""
    return load_settings(**OVERRIDES)


def app_context(*, migrate: bool | None = None) -> AppContext:
    """Settings plus database, object store and file plan, ready to use."""
    return AppContext.from_settings(settings(), migrate=migrate)


def setup_logging(level: str = "INFO") -> None:
    """Log lines to standard error (rich), for every command."""
    logs.setup_logging(level, err_console)


def report_errors(func: F) -> F:
    """The one place that turns mailroom errors into a message and an exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MailroomError as exc:
            err_console.print(
                f"[bold red]Fehler:[/] {escape(exc.message)}", markup=True, highlight=False
            )
            if exc.hint:
                err_console.print(f"[yellow]Hinweis:[/] {escape(exc.hint)}", highlight=False)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def hoist_global_options(argv: list[str]) -> list[str]:
    """Let ``--file-plan PATH`` and ``--data-dir PATH`` stand anywhere on the command line."""
    hoisted: list[str] = []
    rest: list[str] = []
    it = iter(argv)
    for arg in it:
        name, eq, value = arg.partition("=")
        if name in ("--file-plan", "--data-dir"):
            hoisted += [name, value] if eq else [name, next(it, "")]
        else:
            rest.append(arg)
    return hoisted + rest


def file_plan_path(value: Path | None) -> None:
    if value is not None:
        OVERRIDES["file_plan"] = value


def data_dir_path(value: Path | None) -> None:
    if value is not None:
        OVERRIDES["data_dir"] = value


def argv() -> list[str]:
    return hoist_global_options(sys.argv[1:])
