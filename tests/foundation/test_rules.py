from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from content.send_rules import QuietHours, WindowState, custom_send_verdict, next_time_of_day

NOW = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)  # 12:00 China time


def test_no_interaction_means_no_window() -> None:
    verdict = custom_send_verdict(WindowState(), NOW)
    assert not verdict.allowed
    assert "no customer-service window" in verdict.reason


def test_message_window_allows_five_within_48_hours() -> None:
    state = WindowState(last_message_at=NOW - timedelta(hours=47), sends_since_message=4)
    verdict = custom_send_verdict(state, NOW)
    assert verdict.allowed and verdict.window == "message"
    assert verdict.closes_at == NOW + timedelta(hours=1)
    full = WindowState(last_message_at=NOW - timedelta(hours=1), sends_since_message=5)
    assert not custom_send_verdict(full, NOW).allowed
    expired = WindowState(last_message_at=NOW - timedelta(hours=48))
    assert not custom_send_verdict(expired, NOW).allowed


def test_event_window_allows_three_within_a_minute() -> None:
    state = WindowState(last_event_at=NOW - timedelta(seconds=59), sends_since_event=2)
    assert custom_send_verdict(state, NOW).window == "event"
    assert not custom_send_verdict(
        WindowState(last_event_at=NOW - timedelta(seconds=59), sends_since_event=3), NOW
    ).allowed
    assert not custom_send_verdict(WindowState(last_event_at=NOW - timedelta(seconds=61)), NOW).allowed


def test_event_window_still_usable_when_message_window_is_full() -> None:
    state = WindowState(
        last_message_at=NOW - timedelta(hours=2),
        sends_since_message=5,
        last_event_at=NOW,
        sends_since_event=0,
    )
    assert custom_send_verdict(state, NOW).window == "event"


def test_quiet_hours_wrap_past_midnight_in_china_time() -> None:
    quiet = QuietHours.parse("21:30", "08:30")
    evening = datetime(2026, 1, 5, 13, 45, tzinfo=UTC)  # 21:45 China
    assert quiet.contains(evening)
    assert quiet.next_allowed(evening) == datetime(2026, 1, 6, 0, 30, tzinfo=UTC)  # 08:30 China next day
    early = datetime(2026, 1, 5, 23, 0, tzinfo=UTC)  # 07:00 China
    assert quiet.next_allowed(early) == datetime(2026, 1, 6, 0, 30, tzinfo=UTC)
    assert quiet.next_allowed(NOW) == NOW


def test_next_time_of_day_is_strictly_later() -> None:
    assert next_time_of_day(NOW, time(12, 0)) == NOW + timedelta(days=1)
    assert next_time_of_day(NOW, time(13, 0)) == NOW + timedelta(hours=1)
