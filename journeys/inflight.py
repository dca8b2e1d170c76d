"""The in-flight gate: at most `limit` pushes of a batch are "sending" at once, so a crash loses at most that.

A push is committed as "sending" before its API call (custom messages have no idempotency key, so a
push found "sending" after a crash is never resent and is recorded "unknown"). Marking a whole batch
at once would make the whole batch the loss window; marking each push in its own transaction would cost
a commit per send. The gate does it in small groups, the way a group commit does: each worker asks to
enter right before its call, and one flusher commits, in one transaction, the outcomes of the sends
that finished and the "sending" mark of the pushes that asked, never letting more than `limit` pushes
be "sending" without their outcome committed. Pushes of the batch that never entered stay "claimed"
and go back to the queue if the process dies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

P = TypeVar("P")
# flush(finished, entering): commit the outcomes of `finished` and mark `entering` as "sending"; one
# verdict per entering push (False: it must not be sent now; the flush recorded why on the push).
Flush = Callable[[list[P], list[P]], Awaitable[list[bool]]]


class InFlightGate(Generic[P]):
    """Admits pushes to their API call in groups; at most `limit` are "sending" with no recorded outcome."""

    def __init__(self, limit: int, flush: Flush[P], *, group: int) -> None:
        self.limit = max(1, limit)
        # A flush waits until this many pushes ask (or no send is under way), so a commit carries several.
        self.group = max(1, min(group, self.limit))
        self._flush = flush
        self._asking: list[tuple[P, asyncio.Future[bool]]] = []
        self._finished: list[P] = []
        self._calling = 0  # admitted pushes whose call is under way
        self._open = 0  # admitted pushes whose outcome is not committed yet (calling + finished)
        self._wake = asyncio.Event()
        self._closing = False
        self._error: BaseException | None = None
        # The most pushes that were "sending" at once with no recorded outcome.
        self.most_open = 0
        self._flusher = asyncio.create_task(self._run())

    async def enter(self, push: P) -> bool:
        """Wait until `push` is committed as "sending"; False when the flush decided it must not go now."""
        if self._error is not None:
            raise self._error
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._asking.append((push, future))
        self._wake.set()
        return await future

    def leave(self, push: P) -> None:
        """The call of an admitted push is over (its outcome is on the push, recorded at a next flush)."""
        self._calling -= 1
        self._finished.append(push)
        self._wake.set()

    async def close(self) -> list[P]:
        """Stop the flusher once every worker is done; returns the finished pushes not recorded yet."""
        self._closing = True
        self._wake.set()
        await asyncio.gather(self._flusher, return_exceptions=True)
        finished, self._finished = self._finished, []
        if self._error is not None:
            raise self._error
        return finished

    async def abort(self) -> None:
        """Stop the flusher at once (the batch failed); pushes left "sending" end as unknown after a crash."""
        self._flusher.cancel()
        await asyncio.gather(self._flusher, return_exceptions=True)

    def _ready(self) -> int:
        """How many asking pushes to admit now (0: wait for more to ask or for a call to end)."""
        room = self.limit - (self._open - len(self._finished))
        take = min(len(self._asking), room)
        if take <= 0:
            return 0
        if take >= self.group or self._calling == 0 or self._closing:
            return take
        return 0

    async def _run(self) -> None:
        entering: list[tuple[P, asyncio.Future[bool]]] = []
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                take = self._ready()
                if take == 0:
                    if self._closing and not self._asking:
                        return
                    continue
                entering, self._asking = self._asking[:take], self._asking[take:]
                finished, self._finished = self._finished, []
                verdicts = await self._flush(finished, [push for push, _ in entering])
                admitted = sum(verdicts)
                self._open += admitted - len(finished)
                self._calling += admitted
                self.most_open = max(self.most_open, self._open)
                for (_push, future), verdict in zip(entering, verdicts, strict=True):
                    future.set_result(verdict)
                entering = []
                if self._asking or self._finished:
                    self._wake.set()
        except BaseException as error:  # noqa: BLE001 - handed to every waiting worker, then re-raised
            self._error = error
            for _push, future in entering + self._asking:
                if future.done():
                    continue
                if isinstance(error, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(error)
            self._asking = []
            raise
