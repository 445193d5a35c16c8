"""Test helper: an active trained model with given measured thresholds, stored as the
product stores one (model file in the object store, version row in the database)."""

from __future__ import annotations

from classifiers import model_io
from classifiers.router import coldstart_model
from mailroom.infra.db.models import ModelVersion
from mailroom.runtime.context import AppContext


def activate_model(ctx: AppContext, version: str, thresholds: dict[str, float]) -> None:
    """Store the file-plan model as version ``version`` with ``thresholds`` and activate it."""
    arrays, meta = coldstart_model(ctx.fileplan).to_arrays()
    meta = {**meta, "version": version, "thresholds": thresholds, "prior_weight": 0.0}
    key, digest = model_io.store_model(ctx.store, version, model_io.dump_model(arrays, meta))
    with ctx.db.session() as session:
        session.add(
            ModelVersion(
                version=version,
                status="active",
                object_key=key,
                sha256=digest,
                format_version=model_io.FORMAT_VERSION,
            )
        )
    ctx.registry.refresh()
