"""Moving a journey run through its steps: sends become pushes, waits park the run, branches decide.

A run advances from its `step_id` at a moment `at`: each send step becomes a push due at `at` (moved out
of quiet hours for marketing), a wait step parks the run with `resume_at`, a branch reads the
follower's facts at that moment, an exit (or the last step) completes the run.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from content.model import BranchStep, ExitStep, FollowerFacts, SendStep, WaitStep
from journeys.catalogue import LiveJourney, PublishedTemplates
from journeys.policy import DispatchPolicy, PushView, next_send_time
from storage.models.core import Follower, Profile
from storage.models.pushes import JourneyRun, Push

log = logging.getLogger(__name__)
# A journey is a short list of steps; this bounds a loop an editor built by mistake (a -> b -> a).
MAX_STEPS_PER_ADVANCE = 100


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
        elif isinstance(step, BranchStep):
            step_id = step.then if step.condition.holds(await _facts(session, follower)) else step.otherwise
        elif isinstance(step, ExitStep):
            _end(run, "completed", f"exit step {step.id}", at)
            return
    log.error("journey %s loops without waiting; run %s stopped", journey.name, run.id)
    _end(run, "exited", "the journey loops without a wait", at)
