"""Time is injected: everything that asks "what time is it" takes a Clock, so tests never sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FakeClock needs timezone-aware times")
        self._now = moment.astimezone(UTC)


# Every process reads the shared advances at most about a second late, so an advance takes effect this many
# real seconds after it is made: all processes of a deployment jump at the same real moment.
ADVANCE_LEAD = 2.0


@dataclass(frozen=True)
class DemoOffset:
    """The demo clock's jumps ahead, as shared by every process: `seconds` from the real moment
    `effective_at` (Unix seconds), `previous` before it."""

    seconds: float = 0.0
    previous: float = 0.0
    effective_at: float = 0.0

    def at(self, real: float) -> float:
        return self.seconds if real >= self.effective_at else self.previous

    def advanced(self, delta: float, real: float, lead: float = ADVANCE_LEAD) -> DemoOffset:
        """`delta` seconds further ahead, from `lead` real seconds after `real` (builds on a pending jump)."""
        if delta <= 0:
            raise ValueError("the demo clock only moves forward")
        return DemoOffset(self.seconds + delta, self.at(real), real + lead)


class DemoClock:
    """The demo's clock (`scrm demo` only): real time run `speed` times faster from `anchor` (Unix
    seconds), plus the jumps ahead a person asked for (`DemoOffset`):

        demo(real) = real + (speed - 1) * (real - anchor) + offset.at(real)

    Business time (journeys, windows, quiet hours, caps, expiry) reads `now()`; what must follow the
    wall clock (WeChat's signed timestamps, leases between processes) reads `real_now()` through
    `real_clock`. `real` is the source of real time (tests pass a fake one)."""

    def __init__(
        self,
        *,
        speed: float = 1.0,
        anchor: float | None = None,
        offset: DemoOffset | None = None,
        real: Callable[[], float] = time.time,
    ) -> None:
        if not speed >= 1:
            raise ValueError("the demo clock's speed must be at least 1")
        self.speed = float(speed)
        self._real = real
        self.anchor = real() if anchor is None else anchor
        self.offset = offset or DemoOffset()

    def demo_seconds(self, real: float) -> float:
        """The demo time (Unix seconds) at the real moment `real`."""
        return real + (self.speed - 1) * (real - self.anchor) + self.offset.at(real)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.demo_seconds(self._real()), UTC)

    def real_now(self) -> datetime:
        return datetime.fromtimestamp(self._real(), UTC)

    def real_seconds(self) -> float:
        return self._real()

    def drift(self, real: float) -> float:
        """How far the speed has carried demo time beyond real time since the anchor (seconds)."""
        return (self.speed - 1) * (real - self.anchor)


class _RealTime:
    def __init__(self, clock: DemoClock) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.real_now()


def wall_seconds_ago(clock: Clock, seconds: float) -> datetime:
    """What `clock` read `seconds` of real time ago: for a lease or a claim stamped with business time
    (a demo clock's), how old it may get in real time before it counts as abandoned."""
    if isinstance(clock, DemoClock):
        real = clock.real_now().timestamp() - seconds
        return datetime.fromtimestamp(clock.demo_seconds(real), UTC)
    return clock.now() - timedelta(seconds=seconds)


def real_clock(clock: Clock) -> Clock:
    """The clock of what must follow the wall clock whatever the demo does (WeChat's replay window,
    leases between processes): a demo clock's real time, any other clock itself."""
    return _RealTime(clock) if isinstance(clock, DemoClock) else clock


def utc(moment: datetime) -> datetime:
    """Normalise to aware UTC; naive values are taken to be UTC already (as stored)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def china_to_utc(moment: datetime) -> datetime:
    """A naive China-time value (marketplace exports) to aware UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA)
    return moment.astimezone(UTC)


def start_of_china_day(moment: datetime) -> datetime:
    local = utc(moment).astimezone(CHINA)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


__all__ = [
    "ADVANCE_LEAD",
    "CHINA",
    "Clock",
    "DemoClock",
    "DemoOffset",
    "FakeClock",
    "SystemClock",
    "china_to_utc",
    "real_clock",
    "start_of_china_day",
    "timedelta",
    "utc",
]
