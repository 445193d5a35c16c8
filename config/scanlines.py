"""Scan lines (Scanstraßen) and their hot folders, from ``config/scanlines.yaml``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.settings import Settings
from config.yamlconfig import load_yaml_model


class ScanLineConfig(BaseModel):
    """One scan line: scanner + capture software dropping files into a hot folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    name: str
    #: Relative paths are below ``<data dir>/scanlines``.
    hot_folder: Path


class ScanLines(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    scan_lines: tuple[ScanLineConfig, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ScanLines:
        ids = [s.id for s in self.scan_lines]
        if len(ids) != len(set(ids)):
            raise ValueError("scan line ids must be unique")
        return self


def load_scan_lines(settings: Settings) -> list[ScanLineConfig]:
    """The configured scan lines with absolute hot folders."""
    config = load_yaml_model(settings.scan_lines, ScanLines)
    root = settings.hot_folder_root()
    return [
        line.model_copy(
            update={
                "hot_folder": (
                    line.hot_folder if line.hot_folder.is_absolute() else root / line.hot_folder
                ).resolve()
            }
        )
        for line in config.scan_lines
    ]
