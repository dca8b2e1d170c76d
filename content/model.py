"""Typed journey definitions: what editors write in journeys/*.yaml and the console edits.

A journey has a trigger, a list of steps (send, wait, branch, exit), an optional goal that ends it, a
re-entry rule and a send window. Steps run in list order unless a step names its `next`; a branch names
both targets. Stored as JSON in `journeys.definition` (`JourneyDefinition.to_doc()`), read back with
`JourneyDefinition.from_doc()`. Changes to these classes are additive only: the journeys runtime reads them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator, model_validator

from content.send_rules import QuietHours, next_time_of_day, parse_time_of_day

_DURATION_PART = re.compile(r"(\d+)\s*([dhms])")
_DURATION = re.compile(r"^\s*(\d+\s*[dhms]\s*)+$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def parse_duration(value: Any) -> timedelta:
    """`"3d"`, `"12h"`, `"1d12h"`, `"90m"` or a number of seconds to a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration looks like 3d, 12h, 30m or 1d12h")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str) and _DURATION.match(value):
        seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))
        return timedelta(seconds=seconds)
    raise ValueError(f"a duration looks like 3d, 12h, 30m or 1d12h, got {value!r}")


def format_duration(value: timedelta) -> str:
    """The compact form `parse_duration` reads: 1d12h, 90m -> 1h30m."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _time_of_day(value: Any) -> str:
    if isinstance(value, int):
        # YAML 1.1 reads an unquoted 10:00 as the sexagesimal number 600.
        value = f"{value // 60:02d}:{value % 60:02d}"
    if not isinstance(value, str) or not _TIME_OF_DAY.match(value):
        raise ValueError(f"a time of day looks like 10:00 (China time), got {value!r}")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
TimeOfDay = Annotated[str, BeforeValidator(_time_of_day)]


class _Strict(BaseModel):
    # Unknown keys are errors: a typo such as `expire_after` must not silently mean "no expiry".
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


TriggerKind = Literal[
    "followed",
    "followed_scene",
    "phone_bound",
    "first_purchase",
    "repeat_purchase",
    "no_purchase",
    "segment_entered",
]
# The domain event (storage.models.core.DomainEvent.kind) each event-driven trigger listens to.
TRIGGER_EVENTS: dict[str, str] = {
    "followed": "followed",
    "followed_scene": "followed",
    "phone_bound": "phone_bound",
    "first_purchase": "first_purchase",
    "repeat_purchase": "repeat_purchase",
    "segment_entered": "segment_entered",
}


class Trigger(_Strict):
    """What enrols a follower. `no_purchase` is time-based (no order for `days`), the others are events."""

    kind: TriggerKind
    scene: str | None = None  # followed_scene: the QR scene of the follow
    days: int | None = Field(default=None, ge=1, le=3650)  # no_purchase
    segment: str | None = None  # segment_entered

    @model_validator(mode="after")
    def _needs_its_parameter(self) -> Trigger:
        if self.kind == "followed_scene" and not self.scene:
            raise ValueError("trigger followed_scene needs `scene` (the QR scene)")
        if self.kind == "no_purchase" and self.days is None:
            raise ValueError("trigger no_purchase needs `days`")
        if self.kind == "segment_entered" and not self.segment:
            raise ValueError("trigger segment_entered needs `segment`")
        return self

    def matches_event(self, kind: str, payload: dict[str, Any]) -> bool:
        """Whether a domain event (kind, payload) enrols: `scene`/`segment` are read from the payload."""
        if TRIGGER_EVENTS.get(self.kind) != kind:
            return False
        if self.kind == "followed_scene":
            return str(payload.get("scene") or "") == self.scene
        if self.kind == "segment_entered":
            return str(payload.get("segment") or "") == self.segment
        return True


@dataclass(frozen=True)
class FollowerFacts:
    """What a branch condition can ask about a follower at the moment the branch runs."""

    has_purchased: bool = False
    segment: str = "prospect"
    tags: Sequence[str] = field(default_factory=tuple)
    channel: str | None = None
    # Send steps whose message the follower opened a link of, within the window a `clicked` branch
    # asks about (the runner and the preview decide this; the condition only reads it).
    clicked_steps: frozenset[str] = frozenset()


# A click window longer than a month is not "reacting to a message" any more.
MAX_CLICK_HOURS = 720


class Condition(_Strict):
    """A branch test: has_purchased; the segment / a tag / the channel being one of `values`; or
    `clicked`: the follower opened a link of send step `step` within `hours` of that message's delivery.

    A `clicked` branch is decided only once it is known: at the click, or when the window has closed.
    """

    kind: Literal["has_purchased", "segment", "tag", "channel", "clicked"]
    values: tuple[str, ...] = ()
    step: str | None = None
    hours: int | None = None

    @field_validator("hours", mode="before")
    @classmethod
    def _whole_hours(cls, value: Any) -> Any:
        # One plain sentence, on the `hours` field itself, instead of pydantic's int-parsing message.
        if value is None:
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"a whole number of hours, got {value!r}")
        if not 1 <= value <= MAX_CLICK_HOURS:
            raise ValueError(f"must be 1 to {MAX_CLICK_HOURS} hours, got {value}")
        return value

    @model_validator(mode="after")
    def _needs_values(self) -> Condition:
        if self.kind == "clicked":
            if not self.step:
                raise ValueError("condition clicked needs `step` (the send step whose links count)")
            if self.hours is None:
                raise ValueError("condition clicked needs `hours` (how long after that step's delivery)")
            if self.values:
                raise ValueError("condition clicked takes `step` and `hours`, not `values`")
            return self
        if self.step is not None or self.hours is not None:
            raise ValueError(f"condition {self.kind} takes no `step` or `hours` (only clicked does)")
        if self.kind != "has_purchased" and not self.values:
            raise ValueError(f"condition {self.kind} needs `values` (one or more)")
        return self

    @property
    def window(self) -> timedelta:
        """How long after the step's delivery a click still counts (clicked only)."""
        return timedelta(hours=self.hours or 0)

    def describe(self) -> str:
        """The condition in one line, as the preview and the console show it."""
        if self.kind == "clicked":
            return f"clicked {self.step} within {self.hours}h"
        values = f" {', '.join(self.values)}" if self.values else ""
        return f"{self.kind}{values}"

    def holds(self, facts: FollowerFacts) -> bool:
        if self.kind == "clicked":
            return str(self.step) in facts.clicked_steps
        if self.kind == "has_purchased":
            return facts.has_purchased
        if self.kind == "segment":
            return facts.segment in self.values
        if self.kind == "tag":
            return any(tag in self.values for tag in facts.tags)
        return (facts.channel or "") in self.values


DEFAULT_EXPIRY = timedelta(days=3)


class SendStep(_Strict):
    """Send a template. An undeliverable push (no window opened in time) is dropped after `expires_after`."""

    type: Literal["send"]
    id: str
    template: str
    expires_after: Duration = DEFAULT_EXPIRY
    # Draw a unique code from this pool into `step.coupon_code`.
    coupon_pool: str | None = None
    # The store link offered as `step.store_link` (https).
    store_link: str | None = None
    next: str | None = None


class WaitStep(_Strict):
    """Wait a duration, or until the next China-time `until` (e.g. "10:00"); exactly one of the two."""

    type: Literal["wait"]
    id: str
    duration: Duration | None = None
    until: TimeOfDay | None = None
    next: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> WaitStep:
        if (self.duration is None) == (self.until is None):
            raise ValueError("a wait step needs exactly one of `duration` or `until`")
        return self

    def resume_at(self, now: datetime) -> datetime:
        """When the journey continues after waiting from `now`."""
        if self.duration is not None:
            return now + self.duration
        return next_time_of_day(now, parse_time_of_day(str(self.until)))


class BranchStep(_Strict):
    """Go to `then` when the condition holds, else to `otherwise` (written `else` in YAML)."""

    type: Literal["branch"]
    id: str
    condition: Condition
    then: str
    otherwise: str = Field(alias="else")


class ExitStep(_Strict):
    """End the journey for this follower."""

    type: Literal["exit"]
    id: str


Step = Annotated[SendStep | WaitStep | BranchStep | ExitStep, Field(discriminator="type")]


class Goal(_Strict):
    """Reaching the goal ends the journey at once (e.g. a purchase ends a conversion journey).

    `clicked`: the follower opened a link of one of this journey's messages (of send step `step`, and
    of the link whose target is `link`, when given).
    """

    kind: Literal["purchase", "phone_bound", "segment_entered", "clicked"]
    segment: str | None = None
    step: str | None = None
    link: str | None = None

    @model_validator(mode="after")
    def _needs_segment(self) -> Goal:
        if self.kind == "segment_entered" and not self.segment:
            raise ValueError("goal segment_entered needs `segment`")
        if self.kind != "clicked" and (self.step is not None or self.link is not None):
            raise ValueError(f"goal {self.kind} takes no `step` or `link` (only clicked does)")
        if self.link is not None and not self.link.startswith("https://"):
            raise ValueError(f"goal clicked: `link` is the link's https target, got {self.link[:60]!r}")
        return self

    def describe(self) -> str:
        if self.kind == "clicked":
            where = f" {self.step}" if self.step else ""
            return f"clicked{where}" + (f" {self.link}" if self.link else "")
        return self.kind + (f" {self.segment}" if self.segment else "")

    def matches_event(self, kind: str, payload: dict[str, Any], journey_id: int | None = None) -> bool:
        """Whether a domain event reaches the goal; a click counts only on the journey's own messages."""
        if self.kind == "clicked":
            if kind != "link_clicked" or journey_id is None or payload.get("journey_id") != journey_id:
                return False
            if self.step is not None and payload.get("step") != self.step:
                return False
            return self.link is None or payload.get("target") == self.link
        if self.kind == "purchase":
            return kind in {"first_purchase", "repeat_purchase", "order_completed"}
        if self.kind == "phone_bound":
            return kind == "phone_bound"
        return kind == "segment_entered" and str(payload.get("segment") or "") == self.segment


class ReEntry(_Strict):
    """May a follower enter again after leaving: never, after `days`, or always."""

    policy: Literal["never", "after_days", "always"] = "never"
    days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _needs_days(self) -> ReEntry:
        if self.policy == "after_days" and self.days is None:
            raise ValueError("re-entry after_days needs `days`")
        return self

    def allows(self, last_exit_at: datetime | None, now: datetime) -> bool:
        """Whether a follower who last left at `last_exit_at` (None: never enrolled) may enter at `now`."""
        if last_exit_at is None or self.policy == "always":
            return True
        if self.policy == "never":
            return False
        return now >= last_exit_at + timedelta(days=int(self.days or 0))


class SendWindow(_Strict):
    """Quiet hours in China time: marketing sends falling inside wait for `quiet_end`."""

    quiet_start: TimeOfDay = "21:30"
    quiet_end: TimeOfDay = "08:30"

    def quiet_hours(self) -> QuietHours:
        return QuietHours.parse(self.quiet_start, self.quiet_end)


class JourneyDefinition(_Strict):
    """A whole journey. Structural checks (targets, reachability, loops) live in content.journey_checks."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")
    title: str = ""
    description: str = ""
    enabled: bool = True
    trigger: Trigger
    steps: tuple[Step, ...] = Field(min_length=1)
    goal: Goal | None = None
    reentry: ReEntry = ReEntry()
    send_window: SendWindow = SendWindow()

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> JourneyDefinition:
        """Read a stored definition (raises pydantic.ValidationError on a malformed one)."""
        return cls.model_validate(doc)

    def to_doc(self) -> dict[str, Any]:
        """The JSON document stored in `journeys.definition` (YAML spelling: `else`, `3d`)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @property
    def first_step(self) -> Step:
        return self.steps[0]

    def step(self, step_id: str) -> Step:
        for candidate in self.steps:
            if candidate.id == step_id:
                return candidate
        raise KeyError(f"journey {self.name} has no step {step_id!r}")

    def has_step(self, step_id: str) -> bool:
        return any(candidate.id == step_id for candidate in self.steps)

    def next_step_id(self, step_id: str) -> str | None:
        """Where a send or wait step continues: its `next`, else the following step; None ends the journey."""
        current = self.step(step_id)
        explicit = getattr(current, "next", None)
        if explicit:
            return str(explicit)
        if isinstance(current, BranchStep | ExitStep):
            return None
        index = [candidate.id for candidate in self.steps].index(step_id)
        return self.steps[index + 1].id if index + 1 < len(self.steps) else None

    def successors(self, step_id: str) -> list[str]:
        """Every step id control may flow to from `step_id` (branch: both targets)."""
        current = self.step(step_id)
        if isinstance(current, BranchStep):
            return [current.then, current.otherwise]
        if isinstance(current, ExitStep):
            return []
        following = self.next_step_id(step_id)
        return [following] if following else []

    def send_steps(self) -> list[SendStep]:
        return [candidate for candidate in self.steps if isinstance(candidate, SendStep)]


def time_of_day(text: str) -> time:
    """A validated "HH:MM" as a time (re-exported for callers that hold a WaitStep.until)."""
    return parse_time_of_day(_time_of_day(text))
