"""``mailroom web --host --port``: serve the web application alone."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from mailroom.cli.common import app_context, console, report_errors


@report_errors
def web(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (MAILROOM_WEB_HOST)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (MAILROOM_WEB_PORT)")] = None,
) -> None:
    """Serve the web application (Leitstand, Posteingang, Verwaltung, JSON API, /metrics)."""
    from mailroom.services.users import ensure_first_admin
    from mailroom.web.app import create_app

    ctx = app_context()
    try:
        with ctx.db.session() as session:
            password = ensure_first_admin(session)
        if password is not None:
            console.print(f"Erster Benutzer: admin / {password}  (bitte ändern)", highlight=False)
        bind_host = host or ctx.settings.web_host
        bind_port = port or ctx.settings.web_port
        console.print(f"Web-Oberfläche: http://{bind_host}:{bind_port}/", highlight=False)
        uvicorn.run(
            create_app(ctx),
            host=bind_host,
            port=bind_port,
            log_level="warning",
            proxy_headers=True,
            server_header=False,
        )
    finally:
        ctx.close()
