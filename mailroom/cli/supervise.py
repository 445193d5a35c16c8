"""The supervisor of ``mailroom up`` and ``mailroom demo`` with what the command line adds."""

from __future__ import annotations

import threading

from mailroom.cli.common import console, err_console
from mailroom.runtime.context import AppContext
from mailroom.runtime.supervisor import Part, Supervisor


def supervisor(ctx: AppContext, *, workers: int, web: bool, live: bool) -> Supervisor:
    """The supervisor of ``mailroom up`` with what the command line adds: the web server,
    the live status view and the start-up messages."""
    from mailroom.cli.status import LiveStatus, first_admin_hint

    parts = [("web", _serve_web(ctx))] if web else []
    view = LiveStatus(ctx) if live and console.is_terminal else None
    s = ctx.settings
    err_console.print(
        f"mailroom läuft: {workers} Worker, "
        f"{len(ctx.scan_lines)} Scanstraßen, Daten unter {s.data_dir.resolve()}"
    )
    for line in ctx.scan_lines:
        err_console.print(f"  Scanstraße {line.id}: Dateien ablegen in {line.hot_folder}")
    if web:
        err_console.print(f"  Weboberfläche: http://{s.web_host}:{s.web_port}/")
    hint = first_admin_hint(ctx)
    if hint:
        err_console.print(f"  {hint}")
    err_console.print("  Beenden mit Strg+C")
    return Supervisor(ctx, workers=workers, parts=parts, view=view)


def _serve_web(ctx: AppContext) -> Part:
    """The web application as a supervisor part: uvicorn until the stop event is set."""

    def serve(stop: threading.Event) -> None:
        import uvicorn

        from mailroom.web.app import create_app

        s = ctx.settings
        config = uvicorn.Config(
            create_app(ctx), host=s.web_host, port=s.web_port, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)

        def stop_server() -> None:
            stop.wait()
            server.should_exit = True

        threading.Thread(target=stop_server, name="web-stop", daemon=True).start()
        server.run()

    return serve
