"""The demo clock's maths, on a fake source of real time: speed, jumps ahead shared between processes,
and the wall clock kept for what must not speed up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from base.clock import ADVANCE_LEAD, DemoClock, DemoOffset, FakeClock, SystemClock, real_clock, wall_seconds_ago

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC).timestamp()
DAY = 86_400.0


class RealTime:
    """Real time that moves only when told to."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_at_speed_one_without_jumps_demo_time_is_real_time() -> None:
    real = RealTime()
    clock = DemoClock(real=real)
    real.now += 123.5
    assert clock.now() == datetime.fromtimestamp(START + 123.5, UTC) == clock.real_now()


def test_speed_multiplies_the_time_elapsed_since_the_anchor() -> None:
    real = RealTime()
    clock = DemoClock(speed=600, real=real)
    assert clock.now().timestamp() == START
    real.now += 144  # 144 real seconds at 600x: one demo day
    assert clock.now().timestamp() == START + DAY
    assert clock.real_now().timestamp() == START + 144
    assert clock.drift(real.now) == 599 * 144


def test_a_jump_takes_effect_at_the_announced_real_moment_in_every_process() -> None:
    real = RealTime()
    here, there = DemoClock(speed=10, anchor=START, real=real), DemoClock(speed=10, anchor=START, real=real)
    jump = here.offset.advanced(DAY, real.now)
    assert jump == DemoOffset(DAY, 0.0, START + ADVANCE_LEAD)
    here.offset = jump
    real.now += 1  # the other process reads the shared offset a second later
    there.offset = jump
    assert here.now() == there.now() == datetime.fromtimestamp(START + 10, UTC)  # not yet: both before the jump
    real.now = START + ADVANCE_LEAD
    assert here.now() == there.now() == datetime.fromtimestamp(START + 10 * ADVANCE_LEAD + DAY, UTC)


def test_a_second_jump_before_the_first_takes_effect_adds_to_it() -> None:
    first = DemoOffset().advanced(DAY, START)
    second = first.advanced(DAY, START + 1)
    assert second.seconds == 2 * DAY
    assert second.previous == 0.0  # what applies until the jump: nothing yet
    assert second.at(START + 1) == 0.0 and second.at(START + 1 + ADVANCE_LEAD) == 2 * DAY


def test_after_a_jump_demo_time_keeps_running_at_the_speed() -> None:
    real = RealTime()
    clock = DemoClock(speed=2, real=real, offset=DemoOffset(DAY, DAY, START))
    real.now += 30
    assert clock.now().timestamp() == START + 60 + DAY


@pytest.mark.parametrize("delta", [0.0, -1.0])
def test_the_demo_clock_never_moves_back(delta: float) -> None:
    with pytest.raises(ValueError, match="forward"):
        DemoOffset().advanced(delta, START)


@pytest.mark.parametrize("speed", [0.5, 0.0, -2.0, float("nan")])
def test_a_speed_below_one_is_refused(speed: float) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DemoClock(speed=speed, real=RealTime())


def test_real_clock_is_the_wall_clock_of_a_demo_clock_and_any_other_clock_itself() -> None:
    real = RealTime()
    demo = DemoClock(speed=600, real=real, offset=DemoOffset(DAY, DAY, START))
    real.now += 10
    assert real_clock(demo).now() == datetime.fromtimestamp(START + 10, UTC)
    assert demo.now() > real_clock(demo).now()
    fake, system = FakeClock(), SystemClock()
    assert real_clock(fake) is fake and real_clock(system) is system


def test_a_claim_ages_in_real_time_whatever_the_demo_does() -> None:
    real = RealTime()
    clock = DemoClock(speed=120, real=real)
    real.now += 60  # two demo hours on
    # 30 real seconds ago the demo clock read one demo hour after its start.
    assert wall_seconds_ago(clock, 30).timestamp() == START + 30 * 120
    fake = FakeClock()
    assert wall_seconds_ago(fake, 30) == fake.now() - timedelta(seconds=30)
