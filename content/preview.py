"""What a follower would receive from a journey, and when: a pure simulation under a virtual clock.

The simulation walks the journey from `start` (the moment of the trigger) and decides for each send the
channel WeChat allows (content.send_rules): a customer-service message needs an open window (the follow
opens 1 minute / 3 sends, each message from the follower 48 hours / 5 sends); marketing waits out quiet
hours; a push with no window is held until the follower's next message, or dropped when it expires
first. Service templates go out as template messages, which need no window. The console and
`scrm journeys preview` show the same timeline.

Clicks are given per send step, as hours after that step's delivery: a `clicked` branch then waits, as
the runner does, until the click or until its window has closed, and a `clicked` goal ends the journey
at the click.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from base.clock import CHINA, utc
from content.journey_checks import TemplateInfo
from content.model import BranchStep, ExitStep, FollowerFacts, JourneyDefinition, SendStep, WaitStep
from content.send_rules import QuietHours, WindowState, custom_send_verdict

# A journey that loops through waits would go on for ever; a preview stops here.
DEFAULT_HORIZON = timedelta(days=60)
MAX_ENTRIES = 200


@dataclass(frozen=True)
class TimelineEntry:
    """One line of the timeline. `status`: delivered, held, expired, waiting, branch, exit, goal, stopped."""

    at: datetime  # when the journey reached the step
    step_id: str
    status: str
    note: str
    template: str | None = None
    channel: str | None = None  # customer_service | template_message | mass_send
    delivered_at: datetime | None = None
    text: str | None = None  # what the follower reads (rendered), when the caller gave a renderer


@dataclass(frozen=True)
class PreviewInput:
    """Everything the simulation needs; build it once and pass it to `preview_timeline`."""

    journey: JourneyDefinition
    templates: Mapping[str, TemplateInfo]
    start: datetime
    messages_at: Sequence[datetime] = ()
    facts: FollowerFacts = field(default_factory=FollowerFacts)
    purchase_at: datetime | None = None  # reaches a purchase goal and turns has_purchased true
    # Send step id -> hours after its delivery at which the follower opens one of its links.
    clicks: Mapping[str, float] = field(default_factory=dict)
    horizon: timedelta = DEFAULT_HORIZON
    render: Callable[[SendStep], str] | None = None


@dataclass
class _Sim:
    inputs: PreviewInput
    quiet: QuietHours
    messages: list[datetime]
    follow_at: datetime | None
    # Customer-service messages delivered so far: (when, which window carried it).
    sent: list[tuple[datetime, str]] = field(default_factory=list)
    # When each send step's message was last delivered (a step never delivered is absent).
    delivered: dict[str, datetime] = field(default_factory=dict)
    # When a send step's undelivered message is dropped: the runner knows "not clicked" only then.
    dropped: dict[str, datetime] = field(default_factory=dict)

    def window_at(self, moment: datetime) -> WindowState:
        last_message = max((m for m in self.messages if m <= moment), default=None)
        last_event = self.follow_at if self.follow_at is not None and self.follow_at <= moment else None
        return WindowState(
            last_message_at=last_message,
            last_event_at=last_event,
            sends_since_message=sum(
                1 for at, w in self.sent if w == "message" and last_message is not None and at >= last_message
            ),
            sends_since_event=sum(
                1 for at, w in self.sent if w == "event" and last_event is not None and at >= last_event
            ),
        )


def _fmt(moment: datetime) -> str:
    return utc(moment).astimezone(CHINA).strftime("%m-%d %H:%M")


def _deliver(sim: _Sim, step: SendStep, info: TemplateInfo | None, at: datetime) -> TimelineEntry:
    text = sim.inputs.render(step) if sim.inputs.render is not None else None
    kind = info.kind if info else "text"
    marketing = info is None or info.purpose == "marketing"
    expires = at + step.expires_after
    if kind == "wechat_template":
        return TimelineEntry(
            at,
            step.id,
            "delivered",
            "template message (service notice): no window needed",
            step.template,
            "template_message",
            at,
            text,
        )
    if kind == "mass_news":
        return TimelineEntry(
            at,
            step.id,
            "delivered",
            "goes out with the next mass send to the segment",
            step.template,
            "mass_send",
            None,
            text,
        )
    # Moments at which a customer-service send may be tried: now (after quiet hours), then each later
    # message of the follower, which opens a new 48-hour window.
    first_try = sim.quiet.next_allowed(at) if marketing else at
    tries = [first_try, *sorted(m for m in sim.messages if m > first_try)]
    reason = ""
    for index, attempt in enumerate(tries):
        moment = sim.quiet.next_allowed(attempt) if marketing else attempt
        if moment > expires:
            break
        verdict = custom_send_verdict(sim.window_at(moment), moment)
        if verdict.allowed and verdict.window is not None:
            sim.sent.append((moment, verdict.window))
            if index == 0 and moment == at:
                note = f"customer-service message ({verdict.reason})"
            elif index == 0:
                note = f"held by quiet hours {sim.quiet.start:%H:%M}-{sim.quiet.end:%H:%M}; sent at {_fmt(moment)}"
            else:
                note = f"held: {reason}; delivered at next interaction ({_fmt(moment)})"
            status = "delivered" if moment == at else "held"
            return TimelineEntry(at, step.id, status, note, step.template, "customer_service", moment, text)
        reason = reason or verdict.reason
    why = reason or "quiet hours until after expiry"
    note = f"expired: {why}; no interaction before {_fmt(expires)}, dropped"
    return TimelineEntry(at, step.id, "expired", note, step.template, "customer_service", None, text)


def _click_at(sim: _Sim, step: SendStep, entry: TimelineEntry) -> datetime | None:
    """Record a delivery; when the follower opens its link (None: never, or it was not delivered)."""
    if entry.delivered_at is None:
        sim.delivered.pop(step.id, None)
        sim.dropped[step.id] = entry.at + step.expires_after
        return None
    sim.delivered[step.id] = entry.delivered_at
    hours = sim.inputs.clicks.get(step.id)
    return None if hours is None else entry.delivered_at + timedelta(hours=hours)


def _click_branch(sim: _Sim, step_id: str, window: timedelta, now: datetime) -> tuple[bool, datetime]:
    """A `clicked` branch: (clicked?, when that is known), as journeys.runner decides it."""
    delivered = sim.delivered.get(step_id)
    if delivered is None:
        return False, max(now, sim.dropped.get(step_id, now))  # never delivered: nothing to click
    hours = sim.inputs.clicks.get(step_id)
    click = delivered + timedelta(hours=hours) if hours is not None else None
    if click is not None and click <= delivered + window:
        return True, max(now, click)
    return False, max(now, delivered + window)


def preview_timeline(inputs: PreviewInput) -> list[TimelineEntry]:
    """The timeline of one follower through a journey (see the module docstring)."""
    journey = inputs.journey
    start = utc(inputs.start)
    follows = journey.trigger.kind in {"followed", "followed_scene"}
    sim = _Sim(
        inputs,
        journey.send_window.quiet_hours(),
        sorted(utc(m) for m in inputs.messages_at),
        start if follows else None,
    )
    purchase_at = utc(inputs.purchase_at) if inputs.purchase_at is not None else None
    goal = journey.goal
    # When the goal is reached, as far as is known yet (a click goal becomes known at a delivery).
    goal_at = purchase_at if goal is not None and goal.kind == "purchase" else None
    goal_note = "goal reached (a purchase): the journey ends"
    entries: list[TimelineEntry] = []
    now = start
    step_id: str | None = journey.first_step.id
    while step_id is not None:
        if goal_at is not None and goal_at <= now:
            entries.append(TimelineEntry(goal_at, step_id, "goal", goal_note))
            break
        if now > start + inputs.horizon or len(entries) >= MAX_ENTRIES:
            entries.append(TimelineEntry(now, step_id, "stopped", f"preview stops after {inputs.horizon.days} days"))
            break
        step = journey.step(step_id)
        if isinstance(step, SendStep):
            entry = _deliver(sim, step, inputs.templates.get(step.template), now)
            entries.append(entry)
            click = _click_at(sim, step, entry)
            counts = goal is not None and goal.kind == "clicked" and goal.step in (None, step.id)
            if counts and click is not None and (goal_at is None or click < goal_at):
                goal_at, goal_note = click, "goal reached (a click): the journey ends"
        elif isinstance(step, WaitStep):
            resume = step.resume_at(now)
            if goal_at is not None and now < goal_at <= resume:
                entries.append(TimelineEntry(goal_at, step.id, "goal", goal_note))
                break
            entries.append(TimelineEntry(now, step.id, "waiting", f"wait until {_fmt(resume)}"))
            now = resume
        elif isinstance(step, BranchStep) and step.condition.kind == "clicked":
            clicked, decided = _click_branch(sim, step.condition.step or "", step.condition.window, now)
            if decided > now:
                if goal_at is not None and now < goal_at <= decided:
                    entries.append(TimelineEntry(goal_at, step.id, "goal", goal_note))
                    break
                entries.append(TimelineEntry(now, step.id, "waiting", f"wait for a click until {_fmt(decided)}"))
                now = decided
            target = step.then if clicked else step.otherwise
            note = f"{step.condition.describe()}: {'yes' if clicked else 'no'} -> {target}"
            entries.append(TimelineEntry(now, step.id, "branch", note))
            step_id = target
            continue
        elif isinstance(step, BranchStep):
            bought = inputs.facts.has_purchased or (purchase_at is not None and purchase_at <= now)
            facts = FollowerFacts(bought, inputs.facts.segment, inputs.facts.tags, inputs.facts.channel)
            holds = step.condition.holds(facts)
            target = step.then if holds else step.otherwise
            note = f"{step.condition.describe()}: {'yes' if holds else 'no'} -> {target}"
            entries.append(TimelineEntry(now, step.id, "branch", note))
            step_id = target
            continue
        elif isinstance(step, ExitStep):
            entries.append(TimelineEntry(now, step.id, "exit", "the journey ends"))
            break
        step_id = journey.next_step_id(step.id)
    return entries


def format_timeline(entries: Sequence[TimelineEntry]) -> list[str]:
    """Plain lines (China time) for the terminal."""
    lines = []
    for entry in entries:
        head = f"{_fmt(entry.at)}  {entry.step_id:<18} {entry.status:<9}"
        template = f" [{entry.template}]" if entry.template else ""
        lines.append(f"{head}{template} {entry.note}")
        if entry.text:
            lines.append(f"{'':>17}> " + entry.text.replace("\n", " / ")[:160])
    return lines
