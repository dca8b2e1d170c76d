"""Checks a journey must pass before it is saved: its shape, its step graph, and the templates it sends."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from content.issues import Issue, field_path, issues_from_pydantic
from content.model import BranchStep, JourneyDefinition, SendStep, WaitStep
from content.templates import TemplateBody, fields_used
from content.yamlsource import SourceMap

STEP_TYPES = frozenset({"send", "wait", "branch", "exit"})


@dataclass(frozen=True)
class TemplateInfo:
    """What a journey check needs to know about a template it sends."""

    name: str
    kind: str
    purpose: str
    fields: frozenset[str] = frozenset()


def template_info(name: str, body: TemplateBody) -> TemplateInfo:
    """What journeys need to know of a template to check the steps that send it."""
    return TemplateInfo(name=name, kind=body.kind, purpose=body.purpose, fields=fields_used(body))


class _Findings:
    def __init__(self, where: str, source: SourceMap | None) -> None:
        self.where = where
        self.source = source
        self.issues: list[Issue] = []

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        line = self.source.line_of(path) if self.source is not None else None
        self.issues.append(Issue(self.where, field_path(path), message, line))


def validate_journey(
    doc: dict[str, Any],
    where: str,
    *,
    templates: Mapping[str, TemplateInfo] | None = None,
    pools: Collection[str] | None = None,
    source: SourceMap | None = None,
) -> tuple[JourneyDefinition | None, list[Issue]]:
    """Check a journey document; `templates` / `pools` (when given) are what its steps may use."""
    try:
        journey = JourneyDefinition.model_validate(doc)
    except ValidationError as error:
        return None, issues_from_pydantic(error, where, source=source, tags=STEP_TYPES)
    found = _Findings(where, source)
    index = {step.id: number for number, step in reversed(list(enumerate(journey.steps)))}
    seen: set[str] = set()
    for number, step in enumerate(journey.steps):
        if step.id in seen:
            found.add(("steps", number, "id"), f"step id {step.id!r} is used twice")
        seen.add(step.id)
    targets_ok = _check_targets(journey, index, found)
    if targets_ok:
        _check_reachable(journey, index, found)
        _check_loops(journey, index, found)
    for number, step in enumerate(journey.steps):
        if isinstance(step, SendStep):
            _check_send(step, ("steps", number), templates, pools, found)
        elif isinstance(step, WaitStep) and step.duration is not None and step.duration <= timedelta(0):
            found.add(("steps", number, "duration"), "a wait must last longer than zero")
        elif isinstance(step, BranchStep) and step.condition.kind == "clicked":
            at = ("steps", number, "condition", "step")
            _check_click_step(journey, str(step.condition.step), at, "the branch", found)
    if journey.goal is not None and journey.goal.kind == "clicked" and journey.goal.step is not None:
        _check_click_step(journey, journey.goal.step, ("goal", "step"), "the goal", found)
    if (
        journey.goal is not None
        and journey.goal.kind == "purchase"
        and journey.trigger.kind
        in {
            "first_purchase",
            "repeat_purchase",
        }
    ):
        found.add(("goal",), "the goal (a purchase) is reached by the trigger itself: the journey would end at once")
    return (None if found.issues else journey), found.issues


def _check_click_step(
    journey: JourneyDefinition, step_id: str, at: tuple[str | int, ...], who: str, found: _Findings
) -> None:
    """A click is on a message: the step a click condition or goal names must be a send step."""
    if not journey.has_step(step_id):
        sends = ", ".join(s.id for s in journey.send_steps()) or "none"
        found.add(at, f"{who} waits for a click on step {step_id!r}, which does not exist (send steps: {sends})")
        return
    named = journey.step(step_id)
    if not isinstance(named, SendStep):
        found.add(at, f"{who} waits for a click on {named.type} step {step_id!r}: only send steps have links")


def _check_targets(journey: JourneyDefinition, index: Mapping[str, int], found: _Findings) -> bool:
    ok = True
    for number, step in enumerate(journey.steps):
        links: list[tuple[str, str | None]] = []
        if isinstance(step, BranchStep):
            links = [("then", step.then), ("else", step.otherwise)]
        elif isinstance(step, SendStep | WaitStep):
            links = [("next", step.next)]
        for key, target in links:
            if target is not None and target not in index:
                found.add(("steps", number, key), f"goes to step {target!r}, which does not exist")
                ok = False
    return ok


def _check_reachable(journey: JourneyDefinition, index: Mapping[str, int], found: _Findings) -> None:
    reached: set[str] = set()
    pending = [journey.first_step.id]
    while pending:
        current = pending.pop()
        if current in reached:
            continue
        reached.add(current)
        pending.extend(journey.successors(current))
    for number, step in enumerate(journey.steps):
        if step.id not in reached and index[step.id] == number:
            found.add(("steps", number), f"step {step.id!r} can never be reached")


def _check_loops(journey: JourneyDefinition, index: Mapping[str, int], found: _Findings) -> None:
    """A cycle through steps none of which waits would send (or spin) without end."""
    waits = {step.id for step in journey.steps if isinstance(step, WaitStep)}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    reported: set[frozenset[str]] = set()

    def visit(step_id: str, path: list[str]) -> None:
        state[step_id] = 1
        path.append(step_id)
        for following in journey.successors(step_id):
            if following in waits:
                continue
            if state.get(following) == 1:
                cycle = path[path.index(following) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    shown = " -> ".join([*cycle, following])
                    found.add(("steps", index[following]), f"the loop {shown} has no wait step")
            elif following not in state:
                visit(following, path)
        path.pop()
        state[step_id] = 2

    for step in journey.steps:
        if step.id not in state and step.id not in waits:
            visit(step.id, [])


def _check_send(
    step: SendStep,
    at: tuple[str | int, ...],
    templates: Mapping[str, TemplateInfo] | None,
    pools: Collection[str] | None,
    found: _Findings,
) -> None:
    if step.expires_after <= timedelta(0):
        found.add((*at, "expires_after"), "the expiry must be longer than zero")
    if step.store_link is not None and not step.store_link.startswith("https://"):
        found.add((*at, "store_link"), f"links must be https, got {step.store_link[:60]!r}")
    if step.coupon_pool is not None and pools is not None and step.coupon_pool not in pools:
        found.add((*at, "coupon_pool"), f"unknown coupon pool {step.coupon_pool!r}")
    if templates is None:
        return
    info = templates.get(step.template)
    if info is None:
        found.add((*at, "template"), f"unknown template {step.template!r}")
        return
    if info.kind == "mass_news":
        found.add((*at, "template"), f"{step.template} is a mass-send news: it goes out by mass send, not per follower")
    if "step.coupon_code" in info.fields and step.coupon_pool is None:
        message = f"template {step.template} shows step.coupon_code: name the coupon_pool to draw from"
        found.add((*at, "coupon_pool"), message)
    if "step.store_link" in info.fields and step.store_link is None:
        found.add((*at, "store_link"), f"template {step.template} shows step.store_link: give the store_link")
