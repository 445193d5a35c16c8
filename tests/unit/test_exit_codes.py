"""The command line's stable interface for scripts: ``--version`` and the exit codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import mailroom
from mailroom.core.errors import ExitCode, MailroomError

ROOT = Path(__file__).resolve().parents[2]


def run_mailroom(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    return subprocess.run(
        [sys.executable, "-m", "mailroom", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def readme_exit_code_rows() -> list[list[str]]:
    """The cells of the README's "Exit codes" table, one list per code."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Exit codes\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split("|") for line in section.splitlines()]
    return [[cell.strip() for cell in row] for row in rows if re.fullmatch(r"\s*\d+\s*", row[0])]


def all_error_classes(cls: type[MailroomError] = MailroomError) -> list[type[MailroomError]]:
    return [cls, *(sub for child in cls.__subclasses__() for sub in all_error_classes(child))]


def test_readme_lists_exactly_the_exit_codes_in_order() -> None:
    rows = readme_exit_code_rows()
    assert [int(row[0]) for row in rows] == [code.value for code in ExitCode]
    assert all(len(row) == 4 and all(row) for row in rows), rows  # meaning, example, what to do


def test_every_error_exits_with_a_documented_code() -> None:
    for cls in all_error_classes():
        assert isinstance(cls.exit_code, ExitCode), cls
    assert {cls.exit_code for cls in all_error_classes()} == set(ExitCode) - {ExitCode.OK}


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_the_pyproject_version(flag: str) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    out = run_mailroom(flag)
    assert out.returncode == ExitCode.OK, out.stderr
    assert out.stdout == f"mailroom {pyproject['project']['version']}\n"
    assert mailroom.__version__ == pyproject["project"]["version"]


def test_a_usage_error_exits_like_a_configuration_error() -> None:
    out = run_mailroom("nosuchcommand")
    assert out.returncode == ExitCode.CONFIGURATION
    assert "nosuchcommand" in out.stderr
