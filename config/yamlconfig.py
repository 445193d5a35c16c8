"""Versioned YAML configuration validated with pydantic, errors naming the bad line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from mailroom.core.errors import ConfigurationError

M = TypeVar("M", bound=BaseModel)


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping and sequence item."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    lines = {"__line__": node.start_mark.line + 1}
    for key_node, _value_node in node.value:
        lines[f"__line__{key_node.value}"] = key_node.start_mark.line + 1
    return {**{str(k): v for k, v in mapping.items()}, "__lines__": lines}


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_lines(v) for k, v in value.items() if k != "__lines__"}
    if isinstance(value, list):
        return [_strip_lines(v) for v in value]
    return value


def _line_of(raw: Any, loc: tuple[int | str, ...]) -> int | None:
    """Walk ``loc`` through the raw document and return the closest known line."""
    line: int | None = None
    node = raw
    for part in loc:
        if isinstance(node, dict):
            lines = node.get("__lines__", {})
            line = lines.get(f"__line__{part}", lines.get("__line__", line))
            node = node.get(part) if isinstance(part, str) else None
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            if isinstance(node, dict):
                line = node.get("__lines__", {}).get("__line__", line)
        else:
            break
    return line


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Parse ``path`` and validate it as ``model``; errors name file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigurationError(f"{where}: not valid YAML: {exc}") from exc
    if raw is None:
        raise ConfigurationError(f"{path}: the file is empty")
    try:
        return model.model_validate(_strip_lines(raw))
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            line = _line_of(raw, loc)
            where = f"{path}:{line}" if line else str(path)
            field = ".".join(str(p) for p in loc) or "(document)"
            messages.append(f"{where}: {field}: {err['msg']}")
        raise ConfigurationError("\n".join(messages)) from exc
