"""The declared dependencies are exactly the third-party distributions the product imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

#: Declared but never imported by name: each is loaded by another library at run time.
RUNTIME_ONLY = {
    "psycopg": "SQLAlchemy's PostgreSQL driver for postgresql+psycopg:// database URLs",
    "python-multipart": "FastAPI parses the web forms with it",
}

#: Import names that several distributions provide; the one the project means.
ALIASES = {"cv2": "opencv-python-headless"}


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them (``PyYAML`` == ``pyyaml``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def product_packages() -> list[str]:
    """The import packages the wheel ships, from pyproject's package-find patterns."""
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({pattern.split(".")[0].rstrip("*") for pattern in patterns})


def requirement_names(specs: list[str]) -> set[str]:
    """Requirement strings without version specifiers, extras and markers."""
    names = (re.match(r"[A-Za-z0-9._-]+", spec) for spec in specs)
    return {normalise(m.group()) for m in names if m}


def declared() -> set[str]:
    """The names in ``[project] dependencies``."""
    return requirement_names(PYPROJECT["project"]["dependencies"])


class ImportCollector(ast.NodeVisitor):
    """Every absolute import's top-level module name, also inside functions.

    Imports under ``if TYPE_CHECKING:`` are skipped: they never run (``_typeshed``).
    """

    def __init__(self) -> None:
        self.names: list[str] = []

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", None)
        for child in node.orelse if name == "TYPE_CHECKING" else [*node.body, *node.orelse]:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        self.names += [alias.name.split(".")[0] for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self.names.append(node.module.split(".")[0])


def imported_modules(package: Path) -> dict[str, Path]:
    """Top-level module name -> the first file of ``package`` that imports it."""
    found: dict[str, Path] = {}
    for path in sorted(package.rglob("*.py")):
        collector = ImportCollector()
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for name in collector.names:
            found.setdefault(name, path)
    return found


def third_party_imports() -> dict[str, Path]:
    """Imported modules that are neither the standard library nor the product itself."""
    own = set(product_packages())
    modules: dict[str, Path] = {}
    for package in own:
        modules.update(imported_modules(ROOT / package))
    return {
        name: path
        for name, path in sorted(modules.items())
        if name not in own and name not in sys.stdlib_module_names and name != "__future__"
    }


@cache
def installed_distributions() -> dict[str, list[str]]:
    """Import name -> distributions, as installed in this environment (slow: cached)."""
    return dict(packages_distributions())


def distribution_of(module: str) -> str | None:
    """The installed distribution that provides ``module``, or None if none does."""
    if module in ALIASES:
        return ALIASES[module]
    candidates = installed_distributions().get(module, [])
    return normalise(candidates[0]) if len(set(candidates)) == 1 else None


def test_product_packages_are_the_five_import_packages() -> None:
    assert product_packages() == ["classifiers", "config", "intake", "mailroom", "workers"]


def test_every_imported_distribution_is_declared() -> None:
    imports = third_party_imports()
    unmapped = {m: str(p) for m, p in imports.items() if distribution_of(m) is None}
    assert not unmapped, f"no single installed distribution provides: {unmapped} (ALIASES?)"
    missing = {
        distribution_of(m): str(p.relative_to(ROOT))
        for m, p in imports.items()
        if distribution_of(m) not in declared()
    }
    assert not missing, f"imported but not in [project] dependencies: {missing}"


def test_every_declared_dependency_is_imported_or_loaded_at_run_time() -> None:
    used = {distribution_of(module) for module in third_party_imports()}
    unused = declared() - used - set(RUNTIME_ONLY)
    assert not unused, f"declared but never imported: {sorted(unused)}"


def test_runtime_only_dependencies_are_declared_and_never_imported() -> None:
    used = {distribution_of(module) for module in third_party_imports()}
    assert set(RUNTIME_ONLY) <= declared()
    assert not set(RUNTIME_ONLY) & used, "imported now: remove it from RUNTIME_ONLY"


def test_the_dev_extra_has_the_packaging_tools() -> None:
    dev = requirement_names(PYPROJECT["project"]["optional-dependencies"]["dev"])
    assert {"build", "import-linter"} <= dev
