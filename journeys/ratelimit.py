"""A token bucket shared by every send of one process, so bursts never exceed the configured rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """`rate` sends per second on average, at most `burst` at once.

    `reserve(now)` is the pure arithmetic (tested on its own); `acquire()` sleeps for what it returns.
    """

    def __init__(self, rate: float, burst: int | None = None, *, monotonic: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError("the send rate must be positive")
        self.rate = rate
        self.capacity = float(burst if burst is not None else max(1, int(rate)))
        self._tokens = self.capacity
        self._monotonic = monotonic
        self._updated = monotonic()

    def reserve(self, now: float) -> float:
        """Take one token at `now`; return how long the caller must wait before using it (0 = at once)."""
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        # The token is borrowed from the future: wait until the bucket would have refilled it.
        return -self._tokens / self.rate

    async def acquire(self) -> None:
        """Wait for one send's turn.

        `reserve` runs without awaiting, so on one event loop it is atomic and needs no lock.
        """
        delay = self.reserve(self._monotonic())
        if delay > 0:
            await asyncio.sleep(delay)
