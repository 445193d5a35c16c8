"""The wheel alone is a working mailroom: built, installed into a fresh venv, run elsewhere.

Catches what the editable install of the test environment hides: package data missing
from the wheel (templates, migrations, YAML), undeclared dependencies, imports that only
work with the repository on ``sys.path``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
FIND_INCLUDE = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
PACKAGES = sorted({pattern.split(".")[0].rstrip("*") for pattern in FIND_INCLUDE})


def run(args: list[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a command outside the repository, with none of its paths or MAILROOM_* settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MAILROOM_") and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    env["OMP_THREAD_LIMIT"] = "1"
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def checked(out: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert out.returncode == 0, f"{out.args}: {out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    return out


def source_copy(dest: Path) -> Path:
    """What the Dockerfile copies: pyproject, README and the import packages (no build/)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    return dest


def package_data_files() -> list[str]:
    """Every non-Python file in the import packages, as a path inside the wheel."""
    return sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build --wheel`` from a copy of the sources (the work tree stays clean)."""
    base = tmp_path_factory.mktemp("wheel")
    src = source_copy(base / "src")
    dist = base / "dist"
    cmd: list[str | Path] = [sys.executable, "-m", "build", "--wheel", "--outdir", dist, src]
    checked(run(cmd, cwd=base, timeout=900))
    (built,) = dist.glob("mailroom-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment of the tests' interpreter with only the wheel installed."""
    path = tmp_path_factory.mktemp("venv") / "venv"
    base = tmp_path_factory.getbasetemp()
    checked(run([sys.executable, "-m", "venv", path], cwd=base, timeout=300))
    checked(run([path / "bin" / "python", "-m", "pip", "install", "-q", wheel], base, 1500))
    return path


def test_wheel_ships_every_package_data_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    missing = [name for name in package_data_files() if name not in shipped]
    assert not missing, f"not in the wheel (pyproject [tool.setuptools.package-data]): {missing}"
    assert "mailroom/infra/db/migrations/script.py.mako" in shipped


def test_wheel_version_is_the_pyproject_version(venv: Path, tmp_path: Path) -> None:
    out = checked(run([venv / "bin" / "mailroom", "--version"], cwd=tmp_path, timeout=120))
    assert out.stdout == f"mailroom {PYPROJECT['project']['version']}\n"


def test_installed_packages_come_from_the_venv(venv: Path, tmp_path: Path) -> None:
    code = f"import {', '.join(PACKAGES)}; print({', '.join(p + '.__file__' for p in PACKAGES)})"
    out = checked(run([venv / "bin" / "python", "-c", code], cwd=tmp_path, timeout=120))
    for location in out.stdout.split():
        assert Path(location).is_relative_to(venv), location


def test_demo_runs_from_an_empty_folder(venv: Path, tmp_path: Path) -> None:
    mailroom = venv / "bin" / "mailroom"
    up: list[str | Path] = [
        mailroom,
        "up",
        "--demo",
        "--exit-when-idle",
        "--no-web",
        "--no-live",
        "--workers",
        "1",
    ]
    checked(run(up, cwd=tmp_path, timeout=600))
    assert (tmp_path / "data").is_dir()  # the default data directory, relative to cwd
    status = json.loads(checked(run([mailroom, "status", "--json"], tmp_path, 120)).stdout)
    finished = sum(n for state, n in status["states"].items() if state in ("routed", "review"))
    assert finished == 6, status
