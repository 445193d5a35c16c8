"""The web application (FastAPI, server-rendered Jinja2 pages, JSON API, /metrics)."""

from __future__ import annotations
