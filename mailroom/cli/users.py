"""``mailroom users add|list|set-role``: accounts of the web application."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from mailroom.cli.common import app_context, console, err_console, report_errors
from mailroom.core.errors import BadInputError
from mailroom.services import users as user_service

app = typer.Typer(help="Users of the web application.", no_args_is_help=True)

RoleOption = Annotated[str, typer.Option("--role", "-r", help="operator, clerk or admin")]
DepartmentOption = Annotated[
    list[str] | None,
    typer.Option("--department", "-d", help="Department id from the file plan (repeatable)"),
]


def _read_password(password_stdin: bool) -> tuple[str, bool]:
    """The new password and whether it was generated (and must be shown)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise BadInputError("no password on standard input")
        return password, False
    if sys.stdin.isatty():
        password = typer.prompt(
            "Passwort (leer: erzeugen)", default="", hide_input=True, show_default=False
        )
        if password:
            again = typer.prompt(
                "Passwort wiederholen", default="", hide_input=True, show_default=False
            )
            if again != password:
                raise BadInputError("the passwords do not match")
            return password, False
    return user_service.generate_password(), True


@app.command("add")
@report_errors
def add(
    username: Annotated[str, typer.Argument(help="Login name")],
    role: RoleOption,
    department: DepartmentOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
    display_name: Annotated[str, typer.Option(help="Name shown in the web application")] = "",
) -> None:
    """Create a user; a clerk needs at least one --department."""
    password, generated = _read_password(password_stdin)
    ctx = app_context()
    try:
        with ctx.db.session() as session:
            user_service.add_user(
                session,
                username,
                password,
                role,
                department or [],
                display_name=display_name,
                actor="cli",
            )
    finally:
        ctx.close()
    console.print(f"Benutzer [bold]{username}[/] ({role}) angelegt.", highlight=False)
    if generated:
        console.print(f"Erstpasswort: [bold]{password}[/]", highlight=False)


@app.command("list")
@report_errors
def list_users() -> None:
    """All users with role, departments and whether they are active."""
    ctx = app_context()
    try:
        with ctx.db.session() as session:
            rows = [
                (u.username, u.role, ", ".join(d.id for d in u.departments), u.active)
                for u in user_service.list_users(session)
            ]
    finally:
        ctx.close()
    table = Table("Benutzer", "Rolle", "Ämter", "Aktiv")
    for name, role, depts, active in rows:
        table.add_row(name, role, depts or "–", "ja" if active else "nein")
    console.print(table)


@app.command("set-role")
@report_errors
def set_role(
    username: Annotated[str, typer.Argument(help="Login name")],
    role: RoleOption,
    department: DepartmentOption = None,
) -> None:
    """Change a user's role; --department replaces the departments (needed for clerks)."""
    ctx = app_context()
    try:
        with ctx.db.session() as session:
            user = user_service.set_role(session, username, role, department, actor="cli")
            depts = ", ".join(d.id for d in user.departments) or "–"
    finally:
        ctx.close()
    err_console.print(f"{username}: Rolle {role}, Ämter {depts}", highlight=False)
