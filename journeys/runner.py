"""Moving a journey run through its steps: sends become pushes, waits park the run, branches decide.

A run advances from its `step_id` at a moment `at`: each send step becomes a push due at `at` (moved out
of quiet hours for marketing), a wait step parks the run with `resume_at`, a branch reads the
follower's facts at that moment, an exit (or the last step) completes the run.

A `clicked` branch ("clicked a link of step X within N hours") reads the run's push of step X and its
clicks. It is decided at once when the follower clicked in time, or when the push was never delivered
(dropped, skipped, cancelled: nothing to click); otherwise the run parks at the branch until the window
closes (delivery + N hours), so "did not click" is never decided early. A click wakes the run sooner
(journeys.enrolment), and a push not yet delivered is looked at again each hour until it is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from content.model import BranchStep, Condition, ExitStep, FollowerFacts, SendStep, WaitStep
from journeys.catalogue import LiveJourney, PublishedTemplates
from journeys.policy import DispatchPolicy, PushView, next_send_time
from storage.journey_runs import first_click_on_push, latest_step_push
from storage.models.core import Follower, Profile
from storage.models.pushes import OPEN_STATES, JourneyRun, Push

log = logging.getLogger(__name__)
# A journey is a short list of steps; this bounds a loop an editor built by mistake (a -> b -> a).
MAX_STEPS_PER_ADVANCE = 100
# How often a `clicked` branch looks again at a push still waiting to be delivered.
UNDELIVERED_RECHECK = timedelta(hours=1)


@dataclass(frozen=True)
class ClickVerdict:
    """A `clicked` branch's answer, or (`wait_until`) the moment it can be asked again."""

    clicked: bool = False
    wait_until: datetime | None = None


async def click_verdict(session: AsyncSession, run: JourneyRun, condition: Condition, at: datetime) -> ClickVerdict:
    """Whether the run's follower clicked a link of the condition's step in time, as known at `at`."""
    if run.id is None:
        return ClickVerdict()  # a run just entered has sent nothing yet
    push = await latest_step_push(session, run.id, str(condition.step))
    if push is None or push.id is None:
        return ClickVerdict()
    if push.sent_at is None:
        if push.status not in OPEN_STATES:
            return ClickVerdict()  # dropped or cancelled: there was nothing to click
        recheck = at + UNDELIVERED_RECHECK
        if push.expires_at is not None:
            recheck = min(recheck, max(push.expires_at, at) + timedelta(seconds=1))
        return ClickVerdict(wait_until=recheck)
    closes = push.sent_at + condition.window
    clicked_at = await first_click_on_push(session, push.id, run.follower_id)
    if clicked_at is not None and clicked_at <= closes:
        return ClickVerdict(clicked=True)
    if closes > at:
        return ClickVerdict(wait_until=closes)
    return ClickVerdict()


async def _facts(session: AsyncSession, follower: Follower) -> FollowerFacts:
    profile = await session.get(Profile, follower.profile_id) if follower.profile_id else None
    tags = list(follower.tags or []) + list((profile.tags if profile else None) or [])
    return FollowerFacts(
        has_purchased=bool(profile and profile.order_count > 0),
        segment=profile.segment if profile else "prospect",
        tags=tuple(tags),
        channel=follower.channel_scene,
    )


async def _plan_send(
    session: AsyncSession,
    run: JourneyRun,
    journey: LiveJourney,
    step: SendStep,
    step_index: int,
    follower: Follower,
    at: datetime,
    policy: DispatchPolicy,
    templates: PublishedTemplates,
) -> None:
    template = await templates.get(session, step.template)
    window = journey.definition.send_window
    expires_at = at + step.expires_after
    context = {"trigger": run.context, "store_link": step.store_link, "coupon_pool": step.coupon_pool}
    push = Push(
        run_id=run.id, journey_id=journey.id, step_index=step_index, step_key=step.id,
        follower_id=run.follower_id, profile_id=follower.profile_id, appid=follower.appid, openid=follower.openid,
        template_version_id=template.version_id if template else 0,
        template_kind=template.kind if template else "text", purpose=template.purpose if template else "marketing",
        context={k: v for k, v in context.items() if v is not None},
        quiet_start=window.quiet_start, quiet_end=window.quiet_end, due_at=at, expires_at=expires_at,
        created_at=at,
    )  # fmt: skip
    if template is None:
        log.error("journey %s step %s: template %r has no published version", journey.name, step.id, step.template)
        push.status, push.finished_at = "skipped", at
        push.reason = f"template {step.template!r} has no published version"
    elif push.purpose != "service":
        view = PushView(push.purpose, push.template_kind, expires_at, push.quiet_start, push.quiet_end)
        push.due_at = next_send_time(view, at, policy)
    session.add(push)
    run.sends_planned += 1


def _end(run: JourneyRun, state: str, reason: str, at: datetime) -> None:
    run.state, run.end_reason, run.ended_at = state, reason, at
    run.step_id, run.resume_at = "", None


async def advance_run(
    session: AsyncSession,
    run: JourneyRun,
    journey: LiveJourney,
    at: datetime,
    policy: DispatchPolicy,
    templates: PublishedTemplates | None = None,
) -> None:
    """Run steps from `run.step_id` at time `at` until the run waits or ends. Caller commits.

    `templates` keeps the templates looked up across the runs of one transaction; the follower (and its
    profile, for branches) are read through the session, so a caller that loaded them already pays nothing.
    """
    templates = templates or PublishedTemplates()
    follower = await session.get(Follower, run.follower_id)
    if follower is None:
        _end(run, "exited", "follower no longer exists", at)
        return
    definition = journey.definition
    run.resume_at = None
    step_id: str | None = run.step_id or definition.first_step.id
    order = [s.id for s in definition.steps]
    for _ in range(MAX_STEPS_PER_ADVANCE):
        if step_id is None:
            _end(run, "completed", "last step done", at)
            return
        if not definition.has_step(step_id):
            _end(run, "exited", f"step {step_id!r} no longer exists in the journey", at)
            return
        step = definition.step(step_id)
        if isinstance(step, SendStep):
            if run.id is None:
                await session.flush()  # a new run needs its id before its pushes point at it
            await _plan_send(session, run, journey, step, order.index(step.id), follower, at, policy, templates)
            step_id = definition.next_step_id(step.id)
        elif isinstance(step, WaitStep):
            run.step_id = definition.next_step_id(step.id) or ""
            run.resume_at = step.resume_at(at)
            if not run.step_id:
                _end(run, "completed", "last step done", at)
            return
        elif isinstance(step, BranchStep) and step.condition.kind == "clicked":
            verdict = await click_verdict(session, run, step.condition, at)
            if verdict.wait_until is not None:
                run.step_id, run.resume_at = step.id, verdict.wait_until
                return
            step_id = step.then if verdict.clicked else step.otherwise
        elif isinstance(step, BranchStep):
            step_id = step.then if step.condition.holds(await _facts(session, follower)) else step.otherwise
        elif isinstance(step, ExitStep):
            _end(run, "completed", f"exit step {step.id}", at)
            return
    log.error("journey %s loops without waiting; run %s stopped", journey.name, run.id)
    _end(run, "exited", "the journey loops without a wait", at)
