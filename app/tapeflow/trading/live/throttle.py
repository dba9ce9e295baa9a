"""A venue's request limit as a sliding window: at most ``limit`` requests in any ``per_s`` seconds.

Requests over the limit wait their turn (never dropped, never reordered): a venue answers an
excess with HTTP 429, and a refused cancel in a fast market costs more than a few ms of waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable


class Throttle:
    def __init__(self, limit: int, per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if limit <= 0 or per_s <= 0:
            raise ValueError(f"throttle needs a positive limit and window (got {limit} per {per_s} s)")
        self.limit, self.per_s, self.clock = limit, per_s, clock
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until one more request may go (0: now)."""
        now = self.clock()
        while self._sent and now - self._sent[0] >= self.per_s:
            self._sent.popleft()
        if len(self._sent) < self.limit:
            return 0.0
        return self._sent[0] + self.per_s - now

    async def acquire(self) -> None:
        async with self._lock:
            while (wait := self.delay()) > 0:
                await asyncio.sleep(wait)
            self._sent.append(self.clock())
