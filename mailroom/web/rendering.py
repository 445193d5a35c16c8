"""Jinja2 templates (autoescape on), German display filters and flash messages."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from mailroom.infra.db.models import User
from mailroom.services.originals import STATUS_LABELS as ORIGINAL_STATUS_LABELS
from mailroom.web.deps import csrf_token

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

STATE_LABELS = {
    "received": "Eingegangen",
    "queued": "Wartet",
    "processing": "In Verarbeitung",
    "retry_wait": "Wiederholung geplant",
    "routed": "Neu",
    "review": "Klärfall",
    "accepted": "In Bearbeitung",
    "failed": "Fehlgeschlagen",
    "quarantined": "Quarantäne",
    "duplicate": "Duplikat",
}
#: Handschrift on a document (``documents.handwritten``) and a page region's kind.
HANDWRITTEN_LABELS = {"letter": "Handschriftlicher Brief", "notes": "Handschriftliche Notizen"}
HAND_KIND_LABELS = {"text": "Handschrift", "note": "Notiz", "signature": "Unterschrift"}
ROLE_LABELS = {"operator": "Leitstand", "clerk": "Sachbearbeitung", "admin": "Verwaltung"}


def format_datetime(value: datetime | date | None, with_time: bool = True) -> str:
    """German date (and local time) or a dash."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        local = value.astimezone()
        return local.strftime("%d.%m.%Y %H:%M" if with_time else "%d.%m.%Y")
    return value.strftime("%d.%m.%Y")


def format_age(value: timedelta | float | None) -> str:
    """A short German duration: "3 min", "2 h 5 min", "1 Tag"."""
    if value is None:
        return "–"
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} Tage"


def format_percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f} %"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # letters are untrusted text: never render them as markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dt"] = format_datetime
    env.filters["age"] = format_age
    env.filters["pct"] = format_percent
    env.filters["state"] = lambda s: STATE_LABELS.get(str(s), str(s))
    env.filters["role"] = lambda r: ROLE_LABELS.get(str(r), str(r))
    env.filters["handwritten"] = lambda h: HANDWRITTEN_LABELS.get(str(h), str(h))
    env.filters["hand_kind"] = lambda k: HAND_KIND_LABELS.get(str(k), str(k))
    env.filters["original_status"] = lambda s: ORIGINAL_STATUS_LABELS.get(str(s), str(s))
    return env


templates = Jinja2Templates(env=_environment())


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """Show ``message`` once on the next page."""
    request.session["flash"] = {"message": message, "kind": kind}


def render(
    request: Request,
    name: str,
    user: User | None,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page with the user, the CSRF token and any flash message."""
    values: dict[str, Any] = {
        "user": user,
        "csrf": csrf_token(request),
        "flash": request.session.pop("flash", None),
        "path": request.url.path,
    }
    values.update(context or {})
    return templates.TemplateResponse(request, name, values, status_code=status_code)
