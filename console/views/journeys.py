"""Journeys: list, the steps as a timeline with per-step results, enable/disable, and the preview."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from base.i18n import N_, _
from console.audit import audit
from console.content_preview import preview_context
from console.journey_inputs import SimulatorInputs, parse_simulator_inputs
from console.journey_notes import preview_note
from console.keys import LOCALE, SERVICES, VIEWER
from console.lookup import get_or_404
from console.queries.deliveries import step_results
from console.rendering import redirect, render_page
from console.security import actor_name
from content.cache import notify_content_changed
from content.model import BranchStep, ExitStep, JourneyDefinition, SendStep, WaitStep, format_duration
from content.preview import PreviewInput, TimelineEntry, preview_timeline
from content.sandbox import RenderError
from publishing.journey_versions import CONSOLE, save_journey
from publishing.versions import current_version, render_version, template_catalog
from storage import content as store
from storage.journey_runs import active_run_counts
from storage.models.content import Journey
from storage.models.core import Profile


async def journey_list(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        journeys = list(await store.list_journeys(session))
        active = await active_run_counts(session)
    return render_page(request, "journeys.html", journeys=journeys, active=active)


async def _journey(session: AsyncSession, request: web.Request) -> Journey:
    return await get_or_404(session, Journey, request, "journey_id", N_("No such journey."))


def describe_step(definition: JourneyDefinition, step: Any) -> dict[str, str]:
    """One step as the diagram shows it: its kind, what it does, and where it goes next."""
    following = definition.next_step_id(step.id) if not isinstance(step, BranchStep | ExitStep) else None
    if isinstance(step, SendStep):
        what = _("send %(template)s (dropped after %(duration)s)") % {
            "template": step.template,
            "duration": format_duration(step.expires_after),
        }
        if step.coupon_pool:
            what += " · " + _("coupon from %(pool)s") % {"pool": step.coupon_pool}
    elif isinstance(step, WaitStep):
        if step.duration is not None:
            what = _("wait %(duration)s") % {"duration": format_duration(step.duration)}
        else:
            what = _("wait until %(time)s (China time)") % {"time": step.until}
    elif isinstance(step, BranchStep) and step.condition.kind == "clicked":
        what = _(
            "if a link of %(step)s was clicked within %(hours)d hours of its delivery: → %(then)s, else → %(otherwise)s"
        ) % {
            "step": step.condition.step,
            "hours": step.condition.hours or 0,
            "then": step.then,
            "otherwise": step.otherwise,
        }
    elif isinstance(step, BranchStep):
        values = ", ".join(step.condition.values)
        what = _("if %(condition)s %(values)s: → %(then)s, else → %(otherwise)s") % {
            "condition": step.condition.kind,
            "values": values,
            "then": step.then,
            "otherwise": step.otherwise,
        }
    else:
        what = _("exit the journey")
    return {"id": step.id, "type": step.type, "what": what, "next": following or ""}


async def simulate(
    session: AsyncSession,
    request: web.Request,
    definition: JourneyDefinition,
    start: datetime,
    fields: Mapping[str, str] | None = None,
) -> tuple[list[TimelineEntry], SimulatorInputs]:
    """The content preview for one simulated follower; the inputs come from `fields` (the query string
    when not given)."""
    services = request.app[SERVICES]
    fields = request.query if fields is None else fields
    inputs = parse_simulator_inputs(fields, [step.id for step in definition.send_steps()])
    if inputs.profile_id is not None and await session.get(Profile, inputs.profile_id) is None:
        inputs.flag("profile", _("Profile: no profile #%(id)d") % {"id": inputs.profile_id})
        inputs.profile_id = None
    context = await preview_context(session, inputs.profile_id, services.clock)
    versions = {step.template: await current_version(session, step.template) for step in definition.send_steps()}

    def render(step: SendStep) -> str:
        version = versions.get(step.template)
        if version is None:
            return _("(this template has no published version yet)")
        try:
            return render_version(version, context).preview_text()
        except RenderError as error:
            return _("(cannot render: %(error)s)") % {"error": error}

    preview = PreviewInput(
        journey=definition,
        templates=await template_catalog(session),
        start=start,
        messages_at=[start + timedelta(hours=h) for h in inputs.messages],
        purchase_at=start + timedelta(hours=inputs.purchase) if inputs.purchase is not None else None,
        clicks=inputs.clicks,
        render=render,
    )
    return preview_timeline(preview), inputs


async def journey_page(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    async with services.db.session() as session:
        journey = await _journey(session, request)
        assert journey.id is not None
        results = {r.step_key or str(r.step_index): r for r in await step_results(session, journey.id)}
        try:
            definition = JourneyDefinition.from_doc(journey.definition)
        except ValidationError as error:
            problem = _("The stored definition is invalid: %(count)d problem(s).") % {"count": error.error_count()}
            return render_page(
                request, "journey.html", journey=journey, definition=None, steps=[], results=results,
                timeline=[], problems=[problem], inputs=SimulatorInputs(), query=request.query, notes=[],
            )  # fmt: skip
        timeline, inputs = await simulate(session, request, definition, services.clock.now())
    steps = [describe_step(definition, step) for step in definition.steps]
    # Junk in the simulator's fields is listed above the timeline, which is drawn from the rest.
    return render_page(
        request, "journey.html", journey=journey, definition=definition,
        steps=steps, results=results, timeline=timeline, problems=[], inputs=inputs, query=request.query,
        notes=[preview_note(entry, request[LOCALE]) for entry in timeline],
    )  # fmt: skip


async def journey_toggle(request: web.Request) -> web.StreamResponse:
    """Pause or resume: a new published version from the console (it then wins over an unchanged YAML file)."""
    services = request.app[SERVICES]
    form = await request.post()
    wanted = form.get("enabled") == "on"
    async with services.db.session() as session:
        journey = await _journey(session, request)
        try:
            definition = JourneyDefinition.from_doc(journey.definition)
        except ValidationError:
            raise web.HTTPConflict(text=_("The stored definition is invalid: reload the content directory.")) from None
        changed = definition.model_copy(update={"enabled": wanted})
        by = actor_name(request[VIEWER])
        row, _status = await save_journey(session, changed, now=services.clock.now(), by=by, source=CONSOLE)
        audit(request, session, "console.journey_enabled" if wanted else "console.journey_disabled", row.name)
        await session.commit()
    notify_content_changed()
    raise redirect(request, f"/journeys/{row.id}", "enabled" if wanted else "disabled")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/journeys", journey_list)
    router.add_get(r"/journeys/{journey_id:\d+}", journey_page)
    router.add_post(r"/journeys/{journey_id:\d+}/enabled", journey_toggle)
