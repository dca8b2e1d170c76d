"""Pure time maths of the dispatcher: caps, quiet hours across two spans, the token bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from base.clock import CHINA
from journeys.policy import DispatchPolicy, PushView, cap_frees_at, decide, next_send_time
from journeys.ratelimit import TokenBucket
from journeys.reactions import next_quota_reset
from storage.pushes import FollowerFacts

NOON_CHINA = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)


def _facts(*sent: datetime) -> FollowerFacts:
    return FollowerFacts("subscribed", NOON_CHINA - timedelta(minutes=1), None, True, list(sent), [])


def test_the_daily_cap_frees_at_the_next_china_midnight() -> None:
    policy = DispatchPolicy(cap_per_day=2, cap_per_week=5)
    assert cap_frees_at(_facts(NOON_CHINA - timedelta(hours=1)), NOON_CHINA, policy) is None
    frees = cap_frees_at(_facts(NOON_CHINA - timedelta(hours=2), NOON_CHINA - timedelta(hours=1)), NOON_CHINA, policy)
    assert frees is not None and frees.astimezone(CHINA).isoformat() == "2026-01-06T00:00:00+08:00"


def test_the_weekly_cap_frees_when_the_oldest_send_leaves_the_seven_days() -> None:
    policy = DispatchPolicy(cap_per_day=9, cap_per_week=2)
    oldest = NOON_CHINA - timedelta(days=6)
    frees = cap_frees_at(_facts(oldest, NOON_CHINA - timedelta(days=1)), NOON_CHINA, policy)
    assert frees == oldest + timedelta(days=7, seconds=1)


def test_a_journey_window_adds_to_the_brand_quiet_hours() -> None:
    push = PushView("marketing", "text", None, quiet_start="12:00", quiet_end="14:00")
    moved = next_send_time(push, NOON_CHINA, DispatchPolicy())
    assert moved.astimezone(CHINA).strftime("%H:%M") == "14:00"


def test_marketing_cannot_travel_as_a_template_message() -> None:
    push = PushView("marketing", "wechat_template", None)
    decision = decide(push, _facts(), NOON_CHINA, DispatchPolicy(), {})
    assert decision.action == "skip"


def test_quota_resets_at_china_midnight() -> None:
    assert next_quota_reset(NOON_CHINA).astimezone(CHINA).isoformat() == "2026-01-06T00:00:00+08:00"


def test_the_token_bucket_spaces_sends_beyond_its_burst() -> None:
    bucket = TokenBucket(rate=10, burst=2, monotonic=lambda: 0.0)
    assert [bucket.reserve(0.0) for _ in range(4)] == [0.0, 0.0, 0.1, 0.2]
    assert bucket.reserve(1.0) == 0.0  # a second later the bucket has refilled
