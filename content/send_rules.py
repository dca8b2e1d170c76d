"""WeChat's customer-service windows and the brand's quiet hours, as pure functions of time.

Since 2023-06-12: after the follower sends a message, at most 5 customer-service messages within 48
hours; after a follow, menu click or QR scan, at most 3 within 1 minute. Both counts restart with each
new interaction of that kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from base.clock import CHINA, utc

MESSAGE_WINDOW = timedelta(hours=48)
MESSAGE_WINDOW_SENDS = 5
EVENT_WINDOW = timedelta(minutes=1)
EVENT_WINDOW_SENDS = 3


@dataclass(frozen=True)
class WindowState:
    """What the dispatcher knows about one follower's open windows."""

    last_message_at: datetime | None = None
    last_event_at: datetime | None = None
    # Customer-service messages already sent since each of those interactions.
    sends_since_message: int = 0
    sends_since_event: int = 0


@dataclass(frozen=True)
class WindowVerdict:
    allowed: bool
    # Which window carries the send ("message" or "event"), when allowed.
    window: str | None
    # When the carrying window closes (allowed), or None.
    closes_at: datetime | None
    reason: str


def custom_send_verdict(state: WindowState, now: datetime) -> WindowVerdict:
    """May a customer-service message go to this follower at `now`? Prefers the long message window."""
    now = utc(now)
    if state.last_message_at is not None:
        closes = utc(state.last_message_at) + MESSAGE_WINDOW
        if now < closes and state.sends_since_message < MESSAGE_WINDOW_SENDS:
            return WindowVerdict(True, "message", closes, "inside the 48-hour window of the last message")
    if state.last_event_at is not None:
        closes = utc(state.last_event_at) + EVENT_WINDOW
        if now < closes and state.sends_since_event < EVENT_WINDOW_SENDS:
            return WindowVerdict(True, "event", closes, "inside the 1-minute window of the last follow/click/scan")
    if state.last_message_at is not None and now < utc(state.last_message_at) + MESSAGE_WINDOW:
        return WindowVerdict(False, None, None, "5 messages already sent in this 48-hour window")
    if state.last_event_at is not None and now < utc(state.last_event_at) + EVENT_WINDOW:
        return WindowVerdict(False, None, None, "3 messages already sent in this 1-minute window")
    return WindowVerdict(False, None, None, "no customer-service window open")


def parse_time_of_day(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class QuietHours:
    """A daily span (China time) in which marketing is not sent; it may wrap past midnight."""

    start: time = time(21, 30)
    end: time = time(8, 30)

    @classmethod
    def parse(cls, start: str, end: str) -> QuietHours:
        return cls(parse_time_of_day(start), parse_time_of_day(end))

    def contains(self, moment: datetime) -> bool:
        local = utc(moment).astimezone(CHINA).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, moment: datetime) -> datetime:
        """`moment` itself when outside quiet hours, else the end of this quiet span (aware UTC)."""
        moment = utc(moment)
        if not self.contains(moment):
            return moment
        local = moment.astimezone(CHINA)
        end_today = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end_today <= local:
            end_today += timedelta(days=1)
        return end_today.astimezone(utc(moment).tzinfo)


def next_time_of_day(moment: datetime, at: time) -> datetime:
    """The first China-time `at` strictly after `moment` (for "wait until 10:00" steps)."""
    local = utc(moment).astimezone(CHINA)
    candidate = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return utc(candidate)
