"""The journey editor: steps, waits, branches, goal, re-entry and quiet hours in a form, checked as
`scrm content validate` checks a file, a preview timeline for a chosen profile, drafts, versions with
their differences, and publishing one.

A console edit that is published (or a pause) wins over the journey's YAML file until that file
changes; the page says so (publishing.journey_versions holds the rule).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from base.i18n import N_, _
from console.audit import audit
from console.content_preview import body_diff, preview_profiles
from console.journey_form import (
    CONDITION_KINDS,
    GOAL_KINDS,
    REENTRY_POLICIES,
    STEP_TYPES,
    TRIGGER_KINDS,
    JourneyForm,
    add_blank_rows,
    document,
    form_from_definition,
    form_from_post,
    place_issues,
)
from console.journey_notes import preview_note
from console.keys import AUDITED, LOCALE, SERVICES, VIEWER
from console.lookup import get_or_404
from console.rendering import redirect, render_page
from console.security import actor_name
from console.views.journeys import simulate
from content.cache import notify_content_changed
from content.journey_checks import validate_journey
from content.model import JourneyDefinition
from content.preview import TimelineEntry
from publishing.journey_versions import publish_version, save_draft
from publishing.versions import template_catalog
from storage import content as store
from storage.journey_versions import journey_version, list_journey_versions
from storage.models.content import Journey, JourneyVersion

# The simulator's fields on the editor's form, and their names in the journey page's query string.
SIMULATOR_FIELDS = {
    "sim.profile": "profile",
    "sim.messages": "messages",
    "sim.purchase": "purchase",
    "sim.clicks": "clicks",
}
NEW_JOURNEY: dict[str, Any] = {
    "name": "",
    "trigger": {"kind": "followed"},
    "reentry": {"policy": "never"},
    "send_window": {"quiet_start": "21:30", "quiet_end": "08:30"},
    "steps": [],
}


async def _journey(session: AsyncSession, request: web.Request) -> Journey:
    return await get_or_404(session, Journey, request, "journey_id", N_("No such journey."))


def _simulator_fields(form: JourneyForm) -> dict[str, str]:
    fields = {query: form.get(name) for name, query in SIMULATOR_FIELDS.items() if form.get(name)}
    fields.setdefault("messages", form.get("sim.messages") or "0")
    return fields


async def _page(
    request: web.Request,
    session: AsyncSession,
    journey: Journey | None,
    form: JourneyForm,
    *,
    status: int = 200,
    definition: JourneyDefinition | None = None,
) -> web.Response:
    services = request.app[SERVICES]
    timeline: list[TimelineEntry] = []
    notes: list[str] = []
    problems: list[str] = []
    if definition is not None:
        timeline, inputs = await simulate(session, request, definition, services.clock.now(), _simulator_fields(form))
        notes = [preview_note(entry, request[LOCALE]) for entry in timeline]
        problems = inputs.problem_lines
    versions = list(await list_journey_versions(session, journey.id)) if journey and journey.id else []
    return render_page(
        request, "journey_edit.html", status=status, journey=journey, form=form, timeline=timeline, notes=notes,
        simulator_problems=problems, versions=versions, templates=sorted(await template_catalog(session)),
        pools=[pool.name for pool in await store.list_pools(session)], profiles=await preview_profiles(session),
        trigger_kinds=TRIGGER_KINDS, goal_kinds=GOAL_KINDS, condition_kinds=CONDITION_KINDS, step_types=STEP_TYPES,
        reentry_policies=REENTRY_POLICIES, link_hint="https://",
    )  # fmt: skip


def _latest_definition(journey: Journey, versions: list[JourneyVersion]) -> dict[str, Any]:
    """What the editor opens: a draft newer than the live version, else the live definition."""
    newest = versions[0] if versions else None
    if newest is not None and newest.state == "draft" and newest.version > journey.version:
        return dict(newest.definition)
    return dict(journey.definition)


async def journey_new(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        return await _page(request, session, None, form_from_definition(NEW_JOURNEY, blank_rows=2))


async def journey_edit(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        journey = await _journey(session, request)
        assert journey.id is not None
        doc = _latest_definition(journey, list(await list_journey_versions(session, journey.id)))
        form = form_from_definition(doc)
        try:
            definition: JourneyDefinition | None = JourneyDefinition.from_doc(doc)
        except ValidationError:
            definition = None
        return await _page(request, session, journey, form, definition=definition)


async def journey_save(request: web.Request) -> web.StreamResponse:
    """One form, four buttons: add a step row, preview, save a draft, publish."""
    services = request.app[SERVICES]
    post = await request.post()
    form = form_from_post({key: value for key, value in post.items() if isinstance(value, str)})
    action = form.values.pop("action", "preview")
    if action not in ("draft", "publish"):
        request[AUDITED] = True  # a preview or a new row writes nothing: no audit entry per keystroke
    by = actor_name(request[VIEWER])
    async with services.db.session() as session:
        journey = await _journey(session, request) if "journey_id" in request.match_info else None
        name = journey.name if journey is not None else form.get("name")
        doc, rows = document(form, name=name)
        catalog = await template_catalog(session)
        pools = [pool.name for pool in await store.list_pools(session)]
        definition, issues = validate_journey(doc, f"journey {name}", templates=catalog, pools=pools)
        if journey is None and name and await store.journey_by_name(session, name) is not None:
            form.add_error("name", _("a journey named %(name)s exists already") % {"name": name})
            definition = None
        if action == "add":
            add_blank_rows(form, 1)
            return await _page(request, session, journey, form, definition=definition)
        place_issues(form, issues, rows)
        if definition is None or form.errors:
            add_blank_rows(form, 1)
            return await _page(request, session, journey, form, status=422)
        if action not in ("draft", "publish"):
            add_blank_rows(form, 1)
            return await _page(request, session, journey, form, definition=definition)
        now = services.clock.now()
        try:
            draft = await save_draft(session, definition, now=now, by=by)
            row = await session.get(Journey, draft.journey_id)
            assert row is not None and row.id is not None
            if action == "publish":
                await publish_version(session, row, draft, now=now, by=by)
            audit(request, session, f"console.journey_{action}", row.name, version=draft.version)
            await session.commit()
        except IntegrityError:
            # Someone saved the same journey (or a new one of this name) at the same moment: nothing of
            # this save was kept, and the form comes back as typed.
            await session.rollback()
            if journey is not None:
                await session.refresh(journey)  # the rollback expired it
            form.add_error(
                "journey", _("Someone else saved this journey at the same moment; nothing was saved. Save again.")
            )
            add_blank_rows(form, 1)
            return await _page(request, session, journey, form, status=409)
    if action == "publish":
        notify_content_changed()
        raise redirect(request, f"/journeys/{row.id}", "journey_published")
    raise redirect(request, f"/journeys/{row.id}/edit", "draft_saved")


async def journey_versions(request: web.Request) -> web.StreamResponse:
    """The versions, and the differences between two of them (`from`, `to`)."""
    async with request.app[SERVICES].db.session() as session:
        journey = await _journey(session, request)
        assert journey.id is not None
        versions = list(await list_journey_versions(session, journey.id))
    numbers = sorted(v.version for v in versions)
    by_number = {v.version: v for v in versions}

    def chosen(key: str, default: int) -> int:
        raw = request.query.get(key, "")
        return int(raw) if raw.isdigit() and int(raw) in by_number else default

    newer = chosen("to", numbers[-1] if numbers else 0)
    older = chosen("from", max((n for n in numbers if n < newer), default=newer))
    lines = []
    if older in by_number and newer in by_number:
        lines = body_diff(by_number[older].definition, by_number[newer].definition, f"v{older}", f"v{newer}")
    return render_page(
        request, "journey_versions.html", journey=journey, versions=versions, numbers=numbers,
        older=older, newer=newer, lines=[line for line in lines if older != newer],
    )  # fmt: skip


async def journey_publish_version(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    async with services.db.session() as session:
        journey = await _journey(session, request)
        assert journey.id is not None
        version = await journey_version(session, journey.id, int(request.match_info["number"]))
        if version is None:
            raise web.HTTPNotFound(text=_("No such version."))
        await publish_version(session, journey, version, now=services.clock.now(), by=actor_name(request[VIEWER]))
        audit(request, session, "console.journey_publish", journey.name, version=version.version)
        await session.commit()
    notify_content_changed()
    raise redirect(request, f"/journeys/{journey.id}", "journey_published")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/journeys/new", journey_new)
    router.add_post("/journeys/new", journey_save)
    router.add_get(r"/journeys/{journey_id:\d+}/edit", journey_edit)
    router.add_post(r"/journeys/{journey_id:\d+}/edit", journey_save)
    router.add_get(r"/journeys/{journey_id:\d+}/versions", journey_versions)
    router.add_post(r"/journeys/{journey_id:\d+}/versions/{number:\d+}/publish", journey_publish_version)
