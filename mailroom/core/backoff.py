"""The one retry policy: exponential backoff with jitter.

Used wherever mailroom waits before trying again: the hot-folder watcher after a service or
a file failed, a worker reconnecting to the broker, a document whose processing failed
transiently (``retry_wait``). One formula, so an operator can predict every wait from two
settings (``MAILROOM_RETRY_BACKOFF_SECONDS``, ``MAILROOM_RETRY_BACKOFF_MAX_SECONDS``)::

    delay(n) = min(maximum, base * 2 ** (n - 1)) * uniform(0.5, 1.0)

The jitter spreads the retries of many workers and watchers that failed at the same moment
(a broker restart) so they do not all come back in the same second.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

#: Jitter range: a delay is drawn between this share of the nominal delay and all of it.
JITTER_LOW = 0.5


@dataclass(frozen=True)
class BackoffPolicy:
    """Delays for the n-th consecutive failure (n >= 1)."""

    base: float
    maximum: float
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def nominal(self, failures: int) -> float:
        """The delay before jitter: doubling from ``base``, capped at ``maximum``."""
        return min(self.maximum, self.base * 2 ** min(max(failures - 1, 0), 30))

    def delay(self, failures: int) -> float:
        """The jittered delay after ``failures`` failures in a row."""
        return self.nominal(failures) * self.rng.uniform(JITTER_LOW, 1.0)

    def next_attempt_at(self, now: datetime, failures: int) -> datetime:
        """When a document that failed ``failures`` times may be tried again."""
        return now + timedelta(seconds=self.delay(failures))


class Backoff:
    """The failures of one thing (a service, a file, a connection) and when to try again."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self.policy = policy
        self.failures = 0
        self._until = 0.0

    @property
    def active(self) -> bool:
        """True while the last failure's delay has not run out."""
        return time.monotonic() < self._until

    def failed(self) -> float:
        """Note a failure; return the seconds until the next attempt."""
        self.failures += 1
        delay = self.policy.delay(self.failures)
        self._until = time.monotonic() + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self._until = 0.0
