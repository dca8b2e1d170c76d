"""The demo clock shared by every process of one `scrm demo`: the speed and anchor come from the command
line (the same in every forked worker), the jumps ahead from the database (`storage.demo_clock`), read
about once a second by each process. Only `scrm demo` builds one: a real account never runs on it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from base.clock import CHINA, DemoClock, DemoOffset
from storage.db import Database
from storage.demo_clock import change_offset, read_offset

log = logging.getLogger("scrm.demo_clock")

REFRESH_SECONDS = 1.0
DAY = 86_400.0


class SharedDemoClock:
    """A DemoClock kept in step with the deployment's shared offset; what the sandbox page controls."""

    def __init__(self, db: Database, clock: DemoClock) -> None:
        self.db = db
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def refresh(self) -> None:
        """Read the shared offset now."""
        self.clock.offset = await read_offset(self.db)

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.refresh()
                self._failing = False
            except Exception:  # noqa: BLE001 - a busy or restarting database: keep the last offset, say so once
                if not self._failing:
                    log.warning("demo clock: cannot read the shared offset; keeping the last one", exc_info=True)
                self._failing = True
            await asyncio.sleep(REFRESH_SECONDS)

    def start(self) -> None:
        self._task = asyncio.create_task(self._refresh_forever(), name="demo-clock-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def advance(self, seconds: float) -> DemoOffset:
        """Move demo time `seconds` ahead, in every process at the same real moment (ADVANCE_LEAD)."""
        real = self.clock.real_seconds()
        self.clock.offset = await change_offset(self.db, lambda offset: offset.advanced(seconds, real), real)
        log.info("demo clock: %+.0f s from %s", seconds, self.state()["takes_effect_in"])
        return self.clock.offset

    def state(self) -> dict[str, Any]:
        """What the sandbox page shows: demo time (UTC and China), speed, and a pending jump."""
        real = self.clock.real_seconds()
        now = self.clock.now()
        pending = max(0.0, self.clock.offset.effective_at - real)
        return {
            "now": now.isoformat(),
            "now_china": now.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            "speed": self.clock.speed,
            "anchor": self.clock.anchor,
            "offset": self.clock.offset.seconds,
            "previous_offset": self.clock.offset.previous,
            "effective_at": self.clock.offset.effective_at,
            "takes_effect_in": round(pending, 3),
            "real": real,
        }


async def fold_speed(db: Database, clock: DemoClock) -> None:
    """At shutdown, keep the time the speed-up gained in the shared offset, so the next `scrm demo`
    resumes demo time where this one left it (while stopped, demo time runs at real speed)."""
    real = clock.real_seconds()
    gained = clock.drift(real)
    if gained <= 0:
        return

    def fold(offset: DemoOffset) -> DemoOffset:
        base = offset.at(real) if offset.effective_at <= real else offset.seconds
        return DemoOffset(base + gained, base + gained, real)

    await change_offset(db, fold, real)


async def starting_offset(db: Database) -> DemoOffset:
    """The offset a new demo starts from: whatever the last one left."""
    return await read_offset(db)


__all__ = ["DAY", "SharedDemoClock", "fold_speed", "starting_offset"]
