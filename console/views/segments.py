"""Saved segments: a profile-list filter kept under a name, for mass sends and journeys (`saved:<name>`)."""

from __future__ import annotations

from aiohttp import web

from base.i18n import _
from console.audit import audit
from console.keys import SERVICES, VIEWER
from console.profile_form import check_segment_name, describe_filter, filter_query, parse_filter
from console.rendering import redirect, render_page
from console.security import actor_name
from console.views.profiles import render_profile_list
from storage.profile_list import (
    SAVED_PREFIX,
    FilterError,
    ProfileFilter,
    delete_segment,
    save_segment,
    saved_segment,
    saved_segments,
)


async def segment_list(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        rows = await saved_segments(session)
    segments = []
    for row in rows:
        try:
            spec: ProfileFilter | None = ProfileFilter.from_doc(dict(row.filter))
        except (FilterError, TypeError):
            spec = None  # saved with a field this version does not know: shown, not usable from here
        segments.append((row, spec, describe_filter(spec) if spec is not None else ""))
    return render_page(request, "segments.html", segments=segments, prefix=SAVED_PREFIX, filter_query=filter_query)


async def segment_save(request: web.Request) -> web.StreamResponse:
    form = {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
    name = form.get("name", "").strip()
    wanted = parse_filter(form)
    problem = check_segment_name(name)
    if problem is None and wanted.problems:
        problem = _("The filter has values that cannot be used; correct them before saving.")
    if problem is None and wanted.spec.is_empty():
        problem = _("Choose at least one filter: a segment of everyone is the segment “all”.")
    services = request.app[SERVICES]
    if problem is None:
        async with services.db.transaction() as session:
            exists = await saved_segment(session, name) is not None
            if exists and form.get("replace") != "1":
                problem = _("A segment named “%(name)s” exists; tick “replace” to give it this filter.") % {
                    "name": name
                }
            else:
                await save_segment(session, name, wanted.spec, by=actor_name(request[VIEWER]), now=services.clock.now())
                audit(request, session, "console.segment_saved", f"segment:{name}", filter=wanted.spec.to_doc())
    if problem is not None:
        return await render_profile_list(request, form, errors=[problem], status=400, segment_name=name[:40])
    raise redirect(request, "/profiles/segments", "saved")


async def segment_delete(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    async with request.app[SERVICES].db.transaction() as session:
        if not await delete_segment(session, name):
            raise web.HTTPNotFound(text=_("No such saved segment."))
        audit(request, session, "console.segment_deleted", f"segment:{name}")
    raise redirect(request, "/profiles/segments", "segment_deleted")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/profiles/segments", segment_list)
    router.add_post("/profiles/segments", segment_save)
    router.add_post("/profiles/segments/delete", segment_delete)
