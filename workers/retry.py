"""Retry policy for transient failures: exponential backoff with jitter."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from mailroom.settings import Settings


def backoff_seconds(attempt: int, settings: Settings, rng: random.Random | None = None) -> float:
    """Delay before attempt ``attempt + 1``: base * 2^(attempt-1), capped, 50-100 % jitter."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    delay = min(
        settings.retry_backoff_seconds * 2 ** max(attempt - 1, 0),
        settings.retry_backoff_max_seconds,
    )
    return delay * (0.5 + rng.random() / 2)


def next_attempt_at(now: datetime, attempt: int, settings: Settings) -> datetime:
    return now + timedelta(seconds=backoff_seconds(attempt, settings))
