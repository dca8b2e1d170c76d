"""The journey simulator's inputs, from the query string, with every piece of junk named.

A value that cannot be used is never dropped quietly: each one becomes a line of the error list shown
above the timeline (which is then drawn from the values that could be read), and its field is marked.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from base.i18n import _

# Two months: longer than any journey's horizon in the preview.
MAX_PREVIEW_HOURS = 24 * 60
# The fields of the simulator's form; anything else in the query string is someone's typo.
FIELDS = ("messages", "purchase", "profile", "clicks")


@dataclass
class SimulatorInputs:
    """What the simulated follower does, and what was wrong with the typed values (field -> problems)."""

    messages: list[float] = field(default_factory=list)
    purchase: float | None = None
    profile_id: int | None = None
    # Send step id -> hours after its delivery at which the follower opens one of its links.
    clicks: dict[str, float] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)

    def flag(self, name: str, problem: str) -> None:
        self.problems.setdefault(name, []).append(problem)

    @property
    def problem_lines(self) -> list[str]:
        return [line for lines in self.problems.values() for line in lines]


def _hours(raw: str, field_name: str, inputs: SimulatorInputs) -> list[float]:
    """Comma-separated hours (Chinese commas too); each value that is not one is flagged by name."""
    hours: list[float] = []
    for part in raw.replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            inputs.flag(field_name, _("“%(value)s” is not a number of hours") % {"value": part})
            continue
        if not math.isfinite(value) or not 0 <= value <= MAX_PREVIEW_HOURS:
            inputs.flag(
                field_name,
                _("“%(value)s” is outside 0 to %(max)d hours") % {"value": part, "max": MAX_PREVIEW_HOURS},
            )
            continue
        hours.append(value)
    return hours


def _clicks(raw: str, send_steps: Collection[str] | None, inputs: SimulatorInputs) -> dict[str, float]:
    """`step` or `step:hours` (hours after that step's delivery; 1 when not given), comma-separated."""
    clicks: dict[str, float] = {}
    for part in raw.replace("，", ",").split(","):
        part = part.strip()
        if not part:
            continue
        step, _sep, hours_text = part.replace("：", ":").partition(":")
        step = step.strip()
        if send_steps is not None and step not in send_steps:
            known = ", ".join(send_steps) or "-"
            inputs.flag(
                "clicks",
                _("“%(step)s” is not a send step of this journey (%(known)s)") % {"step": step, "known": known},
            )
            continue
        hours = _hours(hours_text, "clicks", inputs) if hours_text.strip() else [1.0]
        if hours:
            clicks[step] = hours[0]
    return clicks


def parse_simulator_inputs(query: Mapping[str, str], send_steps: Collection[str] | None = None) -> SimulatorInputs:
    """Read the simulator's fields; see SimulatorInputs.problems for what could not be used.

    `send_steps` (when given) are the journey's send steps, the only ones a click can be on."""
    inputs = SimulatorInputs()
    prefix = {
        "messages": _("Follower writes after"),
        "purchase": _("Buys after"),
        "profile": _("Profile"),
        "clicks": _("Clicks"),
    }
    inputs.messages = _hours(query.get("messages", "0"), "messages", inputs)
    purchases = _hours(query.get("purchase", ""), "purchase", inputs)
    if len(purchases) > 1:
        inputs.flag("purchase", _("give one purchase time, not %(count)d") % {"count": len(purchases)})
    inputs.purchase = purchases[0] if purchases else None
    inputs.clicks = _clicks(query.get("clicks", ""), send_steps, inputs)
    profile = query.get("profile", "").strip()
    if profile:
        if profile.isdigit():
            inputs.profile_id = int(profile)
        else:
            inputs.flag("profile", _("“%(value)s” is not a profile number") % {"value": profile})
    for name in query:
        if name not in FIELDS:
            inputs.flag(name, _("unknown field “%(name)s”") % {"name": name})
    # Each line says which field it is about, so the list reads on its own.
    inputs.problems = {
        name: [f"{prefix.get(name, name)}: {problem}" for problem in problems]
        for name, problems in inputs.problems.items()
    }
    return inputs
