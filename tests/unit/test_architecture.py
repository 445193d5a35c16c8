"""The architecture holds: layers, independence, no cycles (import-linter), module sizes."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("mailroom", "intake", "workers", "classifiers", "config")
#: ARCHITECTURE.md: no product module is longer than this.
MAX_MODULE_LINES = 400


def _lint_imports() -> Path:
    found = Path(sys.executable).with_name("lint-imports")
    return found if found.exists() else Path(shutil.which("lint-imports") or "lint-imports")


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(_lint_imports()), "--no-cache", "--no-logo", str(ROOT / ".importlinter")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout


def _product_modules() -> list[Path]:
    return sorted(
        path
        for package in PRODUCT
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def test_no_product_module_is_longer_than_four_hundred_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in _product_modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_every_product_module_says_what_it_is() -> None:
    missing = [
        str(path.relative_to(ROOT))
        for path in _product_modules()
        if path.stat().st_size and ast.get_docstring(ast.parse(path.read_text("utf-8"))) is None
    ]
    assert missing == []
