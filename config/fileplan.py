"""The file plan (Aktenplan): departments and the units documents are filed under."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.yamlconfig import load_yaml_model
from mailroom.core.errors import ConfigurationError

FORMAT_VERSION = 1


class Department(BaseModel):
    """A department (Leistungseinheit, Amt, Ressort) that receives routed documents."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1)
    #: Other names citizens address it by ("Jugendamt", "Amt 51").
    aliases: tuple[str, ...] = ()
    #: Routing threshold the city ships for it. An administrator's value (Verwaltung ->
    #: Schwellenwerte) wins over it; ``None`` falls back to the threshold the active model
    #: measured, else ``default_auto_threshold``. Precedence: ``classifiers.thresholds``.
    #: Read from this file only, never copied into the database.
    auto_threshold: float | None = Field(default=None, gt=0, le=1)


class FilePlanUnit(BaseModel):
    """One unit of the file plan (Aktenplaneinheit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.\-]*$")
    title: str = Field(min_length=1)
    department: str
    #: Aufbewahrungsfrist in years; 0 means keep permanently.
    retention_years: int = Field(ge=0, le=200)
    #: Aussonderungsart: A = archivwürdig, B = bewerten, V = vernichten.
    disposal: Literal["A", "B", "V"]
    description: str = ""
    keywords: tuple[str, ...] = ()
    #: Regular expressions of the Aktenzeichen this unit uses.
    reference_patterns: tuple[str, ...] = ()

    @field_validator("reference_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"reference pattern {pattern!r} is not a regex: {exc}") from exc
        return patterns


class FilePlan(BaseModel):
    """The whole file plan as kept in ``config/fileplan.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = FORMAT_VERSION
    name: str = "Aktenplan"
    departments: tuple[Department, ...]
    units: tuple[FilePlanUnit, ...]

    @model_validator(mode="after")
    def _consistent(self) -> FilePlan:
        if self.version != FORMAT_VERSION:
            raise ValueError(f"unknown file plan format version {self.version}")
        seen: set[str] = set()
        for dept in self.departments:
            if dept.id in seen:
                raise ValueError(f"department {dept.id!r} is listed twice")
            seen.add(dept.id)
        codes: set[str] = set()
        for unit in self.units:
            if unit.code in codes:
                raise ValueError(f"unit {unit.code!r} is listed twice")
            codes.add(unit.code)
            if unit.department not in seen:
                raise ValueError(
                    f"unit {unit.code!r} names department {unit.department!r}, "
                    "which is not in departments"
                )
        return self

    @cached_property
    def units_by_code(self) -> dict[str, FilePlanUnit]:
        return {u.code: u for u in self.units}

    @cached_property
    def departments_by_id(self) -> dict[str, Department]:
        return {d.id: d for d in self.departments}

    def unit(self, code: str) -> FilePlanUnit:
        try:
            return self.units_by_code[code]
        except KeyError:
            raise ConfigurationError(f"file plan has no unit {code!r}") from None

    def department(self, dept_id: str) -> Department:
        try:
            return self.departments_by_id[dept_id]
        except KeyError:
            raise ConfigurationError(f"file plan has no department {dept_id!r}") from None

    def units_of(self, dept_id: str) -> list[FilePlanUnit]:
        return [u for u in self.units if u.department == dept_id]


def load_file_plan(path: Path) -> FilePlan:
    """Load and validate a file plan; :class:`ConfigurationError` names the bad lines."""
    return load_yaml_model(path, FilePlan)
