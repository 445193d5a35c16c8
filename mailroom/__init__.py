"""mailroom: digital incoming mail (Digitalisierung der Eingangspost) for a city administration."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    # The one source of the version is pyproject's [project] version, via the installed metadata.
    __version__ = version("mailroom")
except PackageNotFoundError:  # a source tree that was never installed: pip install -e .
    __version__ = "0+unknown"
