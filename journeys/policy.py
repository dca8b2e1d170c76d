"""What to do with one claimed push right now: a pure function of the push, the follower and the time.

The dispatcher asks `decide(...)` for every claimed push, in order per follower, and carries the facts
forward (a send here counts against the caps and window of the next push of the same follower).
Frequency caps count marketing pushes per follower: `cap_per_day` per China calendar day and
`cap_per_week` in any rolling 7 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from base.clock import start_of_china_day, utc
from base.settings import Settings
from content.send_rules import QuietHours, WindowState, custom_send_verdict
from storage.pushes import FollowerFacts

Action = Literal["send_custom", "send_template", "hold", "defer", "skip", "expire"]
WEEK = timedelta(days=7)
# Template kinds the customer-service API can carry; "wechat_template" goes through template messages
# and "mass_news" only through a mass send.
CUSTOM_KINDS = frozenset({"text", "news", "image"})


@dataclass(frozen=True)
class DispatchPolicy:
    """The brand's sending rules, read once from settings."""

    cap_per_day: int = 2
    cap_per_week: int = 5
    quiet: QuietHours = QuietHours()

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatchPolicy:
        return cls(
            settings.cap_per_day, settings.cap_per_week, QuietHours.parse(settings.quiet_start, settings.quiet_end)
        )


@dataclass(frozen=True)
class PushView:
    """The fields of a claimed push that the decision reads."""

    purpose: str
    template_kind: str
    expires_at: datetime | None
    quiet_start: str = ""
    quiet_end: str = ""


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    # When a deferred push becomes due again.
    due_at: datetime | None = None


def _window_state(facts: FollowerFacts) -> WindowState:
    def sends_since(moment: datetime | None) -> int:
        if moment is None:
            return 0
        return sum(1 for at in facts.custom_sent if at >= moment)

    return WindowState(
        last_message_at=facts.last_message_at,
        last_event_at=facts.last_event_at,
        sends_since_message=sends_since(facts.last_message_at),
        sends_since_event=sends_since(facts.last_event_at),
    )


def count_exceeded_since_interaction(facts: FollowerFacts) -> bool:
    """WeChat said 45047 after the follower's latest interaction: no custom sends until the next one."""
    if facts.count_exceeded_at is None:
        return False
    latest = max((t for t in (facts.last_message_at, facts.last_event_at) if t is not None), default=None)
    return latest is None or facts.count_exceeded_at >= latest


def cap_frees_at(facts: FollowerFacts, now: datetime, policy: DispatchPolicy) -> datetime | None:
    """None when one more marketing push fits both caps now, else the earliest time it will."""
    day_start = start_of_china_day(now)
    today = [at for at in facts.marketing_sent if at >= day_start]
    week = sorted(at for at in facts.marketing_sent if at > now - WEEK)
    frees: list[datetime] = []
    if len(today) >= policy.cap_per_day:
        frees.append(start_of_china_day(day_start + timedelta(hours=36)))
    if len(week) >= policy.cap_per_week:
        # The oldest send that keeps the count at the cap must leave the 7-day span.
        frees.append(week[len(week) - policy.cap_per_week] + WEEK + timedelta(seconds=1))
    return max(frees) if frees else None


def _quiet_for(push: PushView, policy: DispatchPolicy) -> list[QuietHours]:
    spans = [policy.quiet]
    if push.quiet_start and push.quiet_end:
        spans.append(QuietHours.parse(push.quiet_start, push.quiet_end))
    return spans


def next_send_time(push: PushView, moment: datetime, policy: DispatchPolicy) -> datetime:
    """The first moment at or after `moment` outside the brand's and the journey's quiet hours."""
    moment = utc(moment)
    for _ in range(4):  # two spans can push each other forward at most a couple of times
        moved = moment
        for span in _quiet_for(push, policy):
            moved = span.next_allowed(moved)
        if moved == moment:
            return moment
        moment = moved
    return moment


def _later(push: PushView, when: datetime, reason: str) -> Decision:
    if push.expires_at is not None and when >= push.expires_at:
        return Decision("expire", f"{reason}; expired before it could be sent")
    return Decision("defer", reason, when)


def decide(
    push: PushView,
    facts: FollowerFacts | None,
    now: datetime,
    policy: DispatchPolicy,
    paused: dict[str, datetime],
) -> Decision:
    """Choose the fate of one push. Mutates `facts` to count a send, so call it in delivery order."""
    if push.expires_at is not None and now >= push.expires_at:
        return Decision("expire", "expired before it could be delivered")
    if facts is None:
        return Decision("skip", "follower no longer exists")
    if facts.status != "subscribed":
        return Decision("skip", f"follower is {facts.status}")
    marketing = push.purpose != "service"
    if marketing and not facts.marketing_consent:
        return Decision("skip", "no marketing consent")
    if marketing:
        allowed_at = next_send_time(push, now, policy)
        if allowed_at > now:
            return _later(push, allowed_at, "quiet hours")
        frees = cap_frees_at(facts, now, policy)
        if frees is not None:
            return _later(push, next_send_time(push, frees, policy), "frequency cap reached")
    if push.template_kind == "wechat_template":
        if marketing:
            return Decision("skip", "template messages may carry service notices only, not marketing")
        if "template" in paused:
            return _later(push, paused["template"], "template-message API paused")
        return Decision("send_template", "service notice through a template message")
    if push.template_kind not in CUSTOM_KINDS:
        return Decision("skip", f"a {push.template_kind} template cannot be pushed one to one (use a mass send)")
    if count_exceeded_since_interaction(facts):
        return Decision("hold", "customer-service count used up (45047): waiting for the next interaction")
    verdict = custom_send_verdict(_window_state(facts), now)
    if not verdict.allowed:
        return Decision("hold", verdict.reason)
    if "custom" in paused:
        return _later(push, paused["custom"], "customer-service API paused")
    facts.custom_sent.append(now)
    if marketing:
        facts.marketing_sent.append(now)
    return Decision("send_custom", verdict.reason)
