"""Mass sends (群发): choose an audience and a news template, preview it, schedule it or send it now.

The page shows the account's counter for the current China month (WeChat lets a service account's
followers receive 4 a month; a subscription account may send once a day) and refuses one past it
before anything is planned. Each send lists what WeChat reported back (MASSSENDJOBFINISH).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from base.clock import CHINA
from base.i18n import N_, _
from console.audit import audit
from console.content_preview import preview_context, preview_of
from console.engine_text import engine_text
from console.keys import SERVICES, VIEWER
from console.lookup import path_id
from console.rendering import redirect, render_page
from console.security import actor_name
from content.sandbox import RenderError
from content.templates import parse_body, render_body
from journeys.mass_plans import (
    Allowance,
    AudienceCount,
    MassSendError,
    allowance,
    cancel_mass_send,
    count_audience,
    schedule_mass_send,
)
from orders.rfm import SEGMENTS
from storage import content as content_store
from storage import mass_sends as store
from storage.accounts import default_appid
from storage.profile_list import SAVED_PREFIX, saved_segments

_TIME_FORMAT = "%Y-%m-%dT%H:%M"
# "Send now" is planned a moment ahead, so the engine's next tick picks it up.
_LATE_GRACE = timedelta(minutes=1)


@dataclass
class Draft:
    name: str = ""
    target: str = "all"
    tag: str = ""
    template: str = ""
    when: str = "now"
    at: str = ""

    @classmethod
    def from_form(cls, form: dict[str, str]) -> Draft:
        return cls(
            name=form.get("name", "").strip(), target=form.get("target", "all"), tag=form.get("tag", "").strip(),
            template=form.get("template", ""), when=form.get("when", "now"), at=form.get("at", "").strip(),
        )  # fmt: skip

    @property
    def audience(self) -> str:
        return f"{store.TAG_PREFIX}{self.tag}" if self.tag else self.target


async def _appid(request: web.Request) -> str:
    services = request.app[SERVICES]
    async with services.db.session() as session:
        return await default_appid(session, services.settings.wechat_appid)


async def mass_send_page(
    request: web.Request, *, draft: Draft | None = None, errors: list[str] | None = None, status: int = 200,
    preview: dict[str, Any] | None = None, counted: AudienceCount | None = None,
) -> web.StreamResponse:  # fmt: skip
    services = request.app[SERVICES]
    appid = await _appid(request)
    now = services.clock.now()
    async with services.db.session() as session:
        plans = await store.list_plans(session)
        results = await store.plan_results(session, plans)
        names = await store.template_names(session, [plan.template_version_id for plan in plans])
        templates = sorted(t.name for t, _v in await content_store.published_versions(session) if t.kind == "mass_news")
        saved = [row.name for row in await saved_segments(session)]
        counter = await allowance(session, appid, now)
    return render_page(
        request, "mass_sends.html", status=status, appid=appid, plans=plans, results=results, names=names,
        templates=templates, segments=SEGMENTS, saved=saved, counter=counter, draft=draft or Draft(),
        errors=errors or [], preview=preview, counted=counted, saved_prefix=SAVED_PREFIX,
        default_at=(now + timedelta(days=1)).astimezone(CHINA).strftime(_TIME_FORMAT),
    )  # fmt: skip


def _refusal(counter: Allowance) -> str:
    if counter.period == "day":
        return _("This subscription account already has its mass send for that day: WeChat allows one a day.")
    return _(
        "This account already has %(used)s mass sends in that month: WeChat allows %(limit)s a month. "
        "Cancel one or choose the next month."
    ) % {"used": counter.used, "limit": counter.limit}


def _checked(draft: Draft, templates: list[str], saved: list[str], now: datetime) -> tuple[datetime, list[str]]:
    errors = []
    if not 1 <= len(draft.name) <= 100:
        errors.append(_("Give the mass send a name (up to 100 characters)."))
    if draft.template not in templates:
        errors.append(_("Choose a published news template."))
    known = {"all", *SEGMENTS, *(SAVED_PREFIX + name for name in saved)}
    if not draft.tag and draft.target not in known:
        errors.append(_("Choose who receives it: everyone, a segment, a saved segment or a tag."))
    if len(draft.tag) > 36:
        errors.append(_("A tag has at most 36 characters."))
    at = now + _LATE_GRACE
    if draft.when != "now":
        try:
            at = datetime.strptime(draft.at, _TIME_FORMAT).replace(tzinfo=CHINA)
        except ValueError:
            errors.append(_("Give the date and time of the send (China time)."))
        else:
            if at < now:
                errors.append(_("That time has passed: choose a later one, or send now."))
    return at, errors


async def _choices(request: web.Request) -> tuple[list[str], list[str]]:
    async with request.app[SERVICES].db.session() as session:
        templates = [t.name for t, _v in await content_store.published_versions(session) if t.kind == "mass_news"]
        saved = [row.name for row in await saved_segments(session)]
    return templates, saved


async def _preview(request: web.Request, draft: Draft, appid: str) -> tuple[dict[str, Any] | None, AudienceCount]:
    services = request.app[SERVICES]
    counted = await count_audience(services.db, appid, draft.audience, services.clock.now())
    async with services.db.session() as session:
        found = [v for t, v in await content_store.published_versions(session) if t.name == draft.template]
        context = await preview_context(session, counted.sample_profile_id, services.clock)
    if not found:
        return None, counted
    try:
        return preview_of(render_body(parse_body(found[0].body), context)), counted
    except RenderError:
        return None, counted


async def mass_send_post(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    form = {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
    draft = Draft.from_form(form)
    templates, saved = await _choices(request)
    now = services.clock.now()
    at, errors = _checked(draft, templates, saved, now)
    if errors:
        return await mass_send_page(request, draft=draft, errors=errors, status=400)
    appid = await _appid(request)
    try:
        preview, counted = await _preview(request, draft, appid)
    except MassSendError:
        return await mass_send_page(
            request, draft=draft, errors=[_("That saved segment no longer exists.")], status=400
        )
    if form.get("action") != "schedule":
        return await mass_send_page(request, draft=draft, preview=preview, counted=counted)
    async with services.db.session() as session:
        counter = await allowance(session, appid, at)
    if counter.full:
        return await mass_send_page(request, draft=draft, errors=[_refusal(counter)], status=409, counted=counted)
    by = actor_name(request[VIEWER])
    try:
        plan = await schedule_mass_send(
            services.db, name=draft.name, appid=appid, template=draft.template, segment=draft.audience, at=at,
            now=now, by=by,
        )  # fmt: skip
    except MassSendError as error:
        return await mass_send_page(request, draft=draft, errors=[engine_text(str(error))], status=409)
    async with services.db.transaction() as session:
        audit(request, session, "console.mass_send_scheduled", plan.name, id=plan.id, segment=plan.segment,
              at=at.isoformat(), reachable=counted.reachable)  # fmt: skip
    raise redirect(request, "/mass-sends", "mass_scheduled")


async def mass_send_cancel(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    plan_id = path_id(request, "plan_id", N_("No such mass send."))
    try:
        plan = await cancel_mass_send(services.db, plan_id, by=actor_name(request[VIEWER]), now=services.clock.now())
    except MassSendError:
        return await mass_send_page(
            request, errors=[_("Only a mass send still waiting for its time can be cancelled.")], status=409
        )
    async with services.db.transaction() as session:
        audit(request, session, "console.mass_send_cancelled", plan.name, id=plan.id)
    raise redirect(request, "/mass-sends", "mass_cancelled")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/mass-sends", mass_send_page)
    router.add_post("/mass-sends", mass_send_post)
    router.add_post("/mass-sends/{plan_id}/cancel", mass_send_cancel)
