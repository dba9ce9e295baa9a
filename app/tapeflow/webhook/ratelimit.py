"""Per-client rate limit: a token bucket per address, so one noisy sender cannot starve the loop.

Time is monotonic seconds from an injectable clock (tests step it by hand). Buckets idle long
enough to be full again are forgotten, so the table cannot grow without bound.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """``rate`` requests per second sustained, ``burst`` at once, per key."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        if not (0 < self.rate < float("inf") and 1 <= self.burst < float("inf")):  # nan fails too
            raise ValueError(f"rate limit needs a finite rate > 0 and burst >= 1, got {rate!r}/s, {burst!r}")
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def allow(self, key: str) -> bool:
        """Take one token for ``key``; False when its bucket is empty."""
        now = self.clock()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        ok = tokens >= 1.0
        if ok:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)  # most recently used last
        self._forget_idle(now)
        return ok

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` has a token again (for the ``Retry-After`` header)."""
        tokens, at = self._buckets.get(key, (self.burst, self.clock()))
        missing = 1.0 - min(self.burst, tokens + (self.clock() - at) * self.rate)
        return max(0.0, missing / self.rate)

    def _forget_idle(self, now: float) -> None:
        full_after = self.burst / self.rate
        while self._buckets:
            key, (_, at) = next(iter(self._buckets.items()))
            if now - at < full_after and len(self._buckets) <= self.max_keys:
                break
            del self._buckets[key]
