"""Log set-up shared by every mailroom process (commands, workers, watchers)."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

#: Libraries whose INFO lines say nothing an operator needs.
QUIET = ("amqp", "kombu", "urllib3", "alembic", "multipart", "httpx")


def setup_logging(level: str = "INFO", console: Console | None = None) -> None:
    """Readable log lines on standard error; once per process."""
    root = logging.getLogger()
    if any(isinstance(h, RichHandler) for h in root.handlers):
        return
    console = console or Console(stderr=True, soft_wrap=True)
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=False)
    logging.basicConfig(level=level.upper(), handlers=[handler], format="%(message)s")
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(logging.WARNING)
