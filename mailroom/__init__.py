"""mailroom: digital incoming mail (Digitalisierung der Eingangspost) for a city administration."""

from __future__ import annotations

__version__ = "0.1.0"
