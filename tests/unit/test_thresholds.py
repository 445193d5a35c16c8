"""Routing thresholds: one precedence rule — administrator > file plan > measured > default."""

from __future__ import annotations

from pathlib import Path

import yaml

from classifiers.extract import extract
from classifiers.thresholds import Threshold, threshold_in_force
from config.fileplan import FilePlan
from mailroom.core.domain import CaseMatch
from mailroom.infra.db.models import Department
from mailroom.runtime.context import AppContext
from tests.conftest import FILE_PLAN, make_settings
from tests.helpers_routing import ELTERNGELD_LETTER, fileplan
from tests.model_helpers import activate_model

MEASURED = {"402": 0.7, "*": 0.8}


def plan_file(path: Path, thresholds: dict[str, float]) -> Path:
    """The shipped file plan with ``auto_threshold`` set for some departments."""
    data = yaml.safe_load(FILE_PLAN.read_text(encoding="utf-8"))
    for dept in data["departments"]:
        if dept["id"] in thresholds:
            dept["auto_threshold"] = thresholds[dept["id"]]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def in_force(dept_id: str, admin: dict[str, float], plan: FilePlan | None = None) -> Threshold:
    return threshold_in_force(
        dept_id,
        admin=admin,
        fileplan=plan or fileplan(),
        measured=MEASURED,
        model_version="v7",
        default=0.85,
    )


def test_each_source_counts_only_when_the_ones_before_it_are_silent():
    data = fileplan().model_dump()
    for dept in data["departments"]:
        if dept["id"] in ("209", "402"):
            dept["auto_threshold"] = 0.95
    plan = FilePlan.model_validate(data)
    assert in_force("209", {"209": 0.6}, plan) == Threshold(0.6, "admin")
    assert in_force("209", {"402": 0.6}, plan) == Threshold(0.95, "fileplan")
    assert in_force("402", {}, plan) == Threshold(0.95, "fileplan")  # over the measured one
    assert in_force("402", {}) == Threshold(0.7, "model", "v7")
    assert in_force("304", {}) == Threshold(0.8, "model", "v7")  # the model's overall value
    assert threshold_in_force(
        "304", admin={}, fileplan=fileplan(), measured={}, model_version=None, default=0.85
    ) == Threshold(0.85, "default")


def test_routing_uses_the_administrators_value_over_the_file_plans(tmp_path: Path):
    plan = plan_file(tmp_path / "fileplan.yaml", {"209": 1.0})
    ctx = AppContext.from_settings(make_settings(tmp_path / "data", file_plan=plan))
    try:
        text = ELTERNGELD_LETTER.format(ref="keins")
        extraction = extract(text, ctx.fileplan)
        before = ctx.registry.router().route(text, extraction, CaseMatch())
        assert before.unit_code == "209.10" and before.decision == "review"
        with ctx.db.session() as session:
            dept = session.get(Department, "209")
            assert dept is not None
            dept.admin_threshold = before.confidence
        ctx.registry.refresh()
        router = ctx.registry.router()
        assert router.route(text, extraction, CaseMatch()).decision == "auto"
        assert router.threshold_in_force("209") == Threshold(before.confidence, "admin")
    finally:
        ctx.close()


def test_the_file_plan_value_is_never_copied_so_deleting_it_leaves_nothing_stale(
    tmp_path: Path,
):
    plan = plan_file(tmp_path / "fileplan.yaml", {"209": 0.97})
    settings = make_settings(tmp_path / "data", file_plan=plan)
    ctx = AppContext.from_settings(settings)
    try:
        assert ctx.registry.router().threshold_in_force("209") == Threshold(0.97, "fileplan")
        with ctx.db.session() as session:
            dept = session.get(Department, "209")
            assert dept is not None and dept.admin_threshold is None
    finally:
        ctx.close()
    plan_file(plan, {})  # the city removes the value; the processes restart
    ctx = AppContext.from_settings(settings)
    try:
        expected = Threshold(settings.default_auto_threshold, "default")
        assert ctx.registry.router().threshold_in_force("209") == expected
        with ctx.db.session() as session:
            assert ctx.registry.thresholds_in_force(session)["209"] == expected
    finally:
        ctx.close()


def test_a_trained_models_measured_thresholds_come_after_the_file_plan(tmp_path: Path):
    plan = plan_file(tmp_path / "fileplan.yaml", {"209": 0.97})
    ctx = AppContext.from_settings(make_settings(tmp_path / "data", file_plan=plan))
    try:
        activate_model(ctx, "v1", {"402": 0.91, "*": 0.88})
        with ctx.db.session() as session:
            shown = ctx.registry.thresholds_in_force(session)
        assert shown["209"] == Threshold(0.97, "fileplan")
        assert shown["402"] == Threshold(0.91, "model", "v1")
        assert shown["304"] == Threshold(0.88, "model", "v1")
    finally:
        ctx.close()
