"""Work that runs after a callback's HTTP answer (deferred replies, interaction hooks, bookkeeping).

Every task is tracked so a graceful shutdown can wait for it, and every failure is logged rather than
lost in an unobserved task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("scrm.gateway.background")


class BackgroundWork:
    """A set of running tasks that `drain` waits for."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run `work` in the background; exceptions are logged with `name`."""
        task = asyncio.create_task(self._guard(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _guard(work: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await work
        except Exception:
            log.exception("background work failed task=%s", name)

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, grace: float = 30.0) -> None:
        """Wait for every task, including tasks spawned while waiting; cancel what outlives `grace` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._tasks:
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.warning("shutdown: cancelling %d background tasks still running", len(self._tasks))
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                return
            await asyncio.wait(set(self._tasks), timeout=remaining)


__all__ = ["BackgroundWork"]
