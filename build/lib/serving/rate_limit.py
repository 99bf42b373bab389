"""Per-token request rate limits: a token bucket per token id, in memory in each worker process."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

__all__ = ["TokenBuckets"]


class TokenBuckets:
    """Token buckets keyed by token id: ``burst`` requests at once, refilled at ``rate`` per second.

    Parameters
    ----------
    rate
        Requests per second a key may sustain; 0 means no limit.
    burst
        Bucket size: requests a key may make at once.
    clock
        Monotonic seconds (injected by tests).
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one request of ``key``: 0.0 if allowed, else the seconds until one is available again."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            level, since = self._buckets.get(key, (float(self.burst), now))
            level = min(float(self.burst), level + (now - since) * self.rate)
            if level >= 1.0:
                self._buckets[key] = (level - 1.0, now)
                return 0.0
            self._buckets[key] = (level, now)
            return (1.0 - level) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """``Retry-After`` header value (whole seconds, at least 1) for a wait in seconds."""
        return str(max(1, math.ceil(wait)))
