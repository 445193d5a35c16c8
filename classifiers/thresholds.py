"""Routing thresholds (Schwellenwerte): which one is in force for a department, and why.

A department's letters are routed without review when the router's confidence reaches its
threshold. Four places can name one; the first that does wins:

1. ``admin`` — set by an administrator under Verwaltung -> Schwellenwerte (the database
   column ``departments.admin_threshold``, which holds nothing else);
2. ``fileplan`` — ``auto_threshold`` of the department in the file plan YAML, the default
   the city ships; it is read from the file plan, never copied into the database;
3. ``model`` — measured by the active trained model for the department, else its
   overall value ``"*"`` (the cold-start router has none);
4. ``default`` — ``settings.default_auto_threshold``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from config.fileplan import FilePlan

ThresholdSource = Literal["admin", "fileplan", "model", "default"]


@dataclass(frozen=True)
class Threshold:
    """The threshold in force for one department and where it comes from."""

    value: float
    source: ThresholdSource
    #: The trained model that measured it (only for ``source == "model"``).
    model_version: str | None = None


def threshold_in_force(
    dept_id: str,
    *,
    admin: Mapping[str, float],
    fileplan: FilePlan,
    measured: Mapping[str, float],
    model_version: str | None,
    default: float,
) -> Threshold:
    """The one precedence rule: admin > file plan > measured by the model > default."""
    if dept_id in admin:
        return Threshold(admin[dept_id], "admin")
    dept = fileplan.departments_by_id.get(dept_id)
    if dept is not None and dept.auto_threshold is not None:
        return Threshold(dept.auto_threshold, "fileplan")
    for key in (dept_id, "*"):
        if key in measured:
            return Threshold(measured[key], "model", model_version)
    return Threshold(default, "default")
