"""Server-rendered pages, one router per audience."""

from __future__ import annotations
