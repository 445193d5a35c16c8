"""Model versions in the Verwaltung: list, compare, plot, and the registry's actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailroom.core.errors import BadInputError, Conflict, NotFound
from mailroom.infra.db.models import ModelVersion
from mailroom.runtime.context import AppContext
from mailroom.web.jobs import JobRunner

#: Shown first when a version's metrics have them; other numeric metrics follow.
PREFERRED_METRICS = (
    "unit_accuracy",
    "unit_macro_f1",
    "department_accuracy",
    "auto_precision",
    "auto_coverage",
)
#: Measures shown in the result of a comparison (as ``ModelRegistry.compare`` scores them).
COMPARED = ("unit_macro_f1", "unit_accuracy", "department_accuracy")
MAX_COLUMNS = 8


def list_versions(session: Session) -> list[ModelVersion]:
    """All model versions, newest first."""
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.created_at.desc())))


def metric_columns(versions: list[ModelVersion]) -> list[str]:
    """The numeric top-level metrics to compare side by side."""
    keys: list[str] = []
    for row in versions:
        for key, value in (row.metrics or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool) and key not in keys:
                keys.append(key)
    ordered = [k for k in PREFERRED_METRICS if k in keys] + [
        k for k in keys if k not in PREFERRED_METRICS
    ]
    return ordered[:MAX_COLUMNS]


def plot_png(session: Session, ctx: AppContext, version: str) -> bytes:
    """The evaluation plot of a version, from the object store."""
    row = session.get(ModelVersion, version)
    if row is None or not row.plot_key:
        raise NotFound(f"model version {version!r} has no plot")
    return ctx.store.get(row.plot_key)


def run_action(
    ctx: AppContext, jobs: JobRunner, actor: str, action: str, version: str, force: bool
) -> str:
    """Start training or evaluation in the background, or promote / roll back now."""
    registry = ctx.registry
    if action in ("train", "evaluate", "compare") and jobs.busy():
        raise Conflict("a training or evaluation is already running: wait until it is done")
    if action == "train":
        jobs.submit("train", actor, lambda: registry.train(actor=actor))
        return "Training gestartet; die neue Version erscheint hier, wenn es fertig ist."
    if action == "evaluate":
        _require_version(ctx, version)
        jobs.submit("evaluate", actor, lambda: describe_metrics(registry.evaluate(version)))
        return f"Auswertung von {version} gestartet."
    if action == "compare":
        _require_version(ctx, version)
        jobs.submit("compare", actor, lambda: describe_comparison(registry.compare(version)))
        return f"Vergleich von {version} mit dem aktiven Modell gestartet."
    if action == "promote":
        _require_version(ctx, version)
        registry.promote(version, force=force, actor=actor)  # audited by the registry
        return f"Version {version} ist jetzt aktiv."
    if action == "rollback":
        restored = registry.rollback(actor=actor)
        return f"Zurückgerollt auf {restored.version}."
    raise BadInputError(f"unknown model action {action!r}")


def describe_metrics(metrics: dict[str, Any]) -> str:
    """A one-line German summary of an evaluation."""
    parts = [
        f"{key} {value:.3f}"
        for key, value in metrics.items()
        if key in PREFERRED_METRICS and isinstance(value, int | float)
    ]
    return f"{metrics.get('n', '?')} Testbriefe: " + ", ".join(parts)


def describe_comparison(result: dict[str, Any]) -> str:
    """Candidate against the active model on the candidate's held-out letters."""
    candidate = result.get("candidate") or {}
    active = result.get("active")
    if not active:
        return "Kein aktives Modell zum Vergleich; Kandidat: " + ", ".join(
            f"{k} {candidate.get(k, 0):.3f}" for k in COMPARED
        )
    return f"Kandidat gegen aktiv ({result.get('active_version')}): " + ", ".join(
        f"{k} {candidate.get(k, 0):.3f} / {active.get(k, 0):.3f}" for k in COMPARED
    )


def _require_version(ctx: AppContext, version: str) -> None:
    with ctx.db.session() as session:
        if not version or session.get(ModelVersion, version) is None:
            raise NotFound(f"no model version {version!r}")
