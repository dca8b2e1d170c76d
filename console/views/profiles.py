"""Profiles: search by phone (admins), openid or name; one profile with its orders, runs, pushes, consent."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from aiohttp import web

from base.i18n import N_, _
from console.access import admin_only
from console.audit import audit
from console.keys import AUDITED, SERVICES, VIEWER
from console.lookup import path_id
from console.profile_form import MAX_PAGE, form_values, parse_filter
from console.queries.profiles import (
    SearchError,
    filter_choices,
    find_by_phone,
    looks_like_phone,
    profile_timeline_lines,
)
from console.rendering import redirect, render_page
from console.rights import erase_profile, export_profile
from console.security import actor_name
from console.timeline import kind_name
from orders.rfm import SEGMENTS
from storage.models.core import Profile
from storage.profile_detail import followers_without_profile, profile_detail, profiles_by_openid_or_name
from storage.profile_list import COUNT_CAP, SORTS, list_profiles


def phone_for(request: web.Request, profile: Profile) -> str:
    """The full number for admins, the masked one for editors (and when the data key is missing)."""
    if not request[VIEWER].is_admin or profile.erased_at is not None or not profile.phone_sealed:
        return profile.phone_masked
    try:
        return request.app[SERVICES].vault.unseal(profile.phone_sealed)
    except ValueError:
        return _("%(phone)s (set SCRM_DATA_KEY to read)") % {"phone": profile.phone_masked}


async def profile_search(request: web.Request) -> web.StreamResponse:
    """The profile list: a search by phone, openid or name when `q` is given, else the filtered list."""
    query = request.query.get("q", "").strip()[:100]
    if not query:
        return await render_profile_list(request, request.query)
    services = request.app[SERVICES]
    viewer = request[VIEWER]
    profiles: list[Profile] = []
    unbound = []
    problem = ""
    async with services.db.session() as session:
        if looks_like_phone(query):
            if not viewer.is_admin:
                problem = _("Searching by phone number is for admins; search by openid or name instead.")
            else:
                try:
                    profiles = await find_by_phone(session, services.vault, query)
                except SearchError as error:
                    problem = str(error)
        else:
            profiles = await profiles_by_openid_or_name(session, query)
            unbound = await followers_without_profile(session, query)
    return render_page(
        request,
        "profiles.html",
        query=query,
        problem=problem,
        rows=[(profile, phone_for(request, profile)) for profile in profiles],
        unbound=unbound,
    )


async def render_profile_list(
    request: web.Request,
    values: Mapping[str, str],
    *,
    errors: Sequence[str] = (),
    status: int = 200,
    segment_name: str = "",
) -> web.Response:
    """One page of the filtered list (`values`: the filter's fields, from the URL or a posted form)."""
    services = request.app[SERVICES]
    wanted = parse_filter(values)
    async with services.db.session() as session:
        listing = await list_profiles(session, wanted.spec, now=services.clock.now(), page=wanted.page)
        choices = await filter_choices(session)
    return render_page(
        request,
        "profiles.html",
        status=status,
        query="",
        problem="",
        # The list shows masked numbers only: a full number is read one profile at a time, audited.
        rows=[(profile, profile.phone_masked) for profile in listing.profiles],
        listing=listing,
        wanted=wanted,
        form=form_values(wanted.spec),
        choices=choices,
        segments=SEGMENTS,
        sorts=SORTS,
        count_cap=COUNT_CAP,
        errors=list(errors),
        segment_name=segment_name,
        segment_example="vip_shanghai",
        max_page=MAX_PAGE,
    )


async def profile_page(request: web.Request) -> web.StreamResponse:
    return await _render_profile(request, _profile_id(request))


async def _render_profile(
    request: web.Request, profile_id: int, *, errors: tuple[str, ...] = (), status: int = 200
) -> web.Response:
    services = request.app[SERVICES]
    async with services.db.session() as session:
        detail = await profile_detail(session, profile_id)
        timeline = [] if detail is None else await profile_timeline_lines(session, detail)
    if detail is None:
        raise web.HTTPNotFound(text=_("No such profile."))
    phone = phone_for(request, detail.profile)
    if request[VIEWER].is_admin and phone != detail.profile.phone_masked:
        # Reading a full number is a disclosure of personal data: it is on the record.
        async with services.db.transaction() as session:
            audit(request, session, "console.profile_viewed", f"profile:{profile_id}", full_phone=True)
    return render_page(
        request,
        "profile.html",
        status=status,
        detail=detail,
        timeline=timeline,
        kind_name=kind_name,
        phone=phone,
        rights=request[VIEWER].is_admin,
        errors=list(errors),
    )


def _profile_id(request: web.Request) -> int:
    return path_id(request, "profile_id", N_("No such profile."))


@admin_only
async def profile_export(request: web.Request) -> web.StreamResponse:
    profile_id = _profile_id(request)
    services = request.app[SERVICES]
    document = await export_profile(services, profile_id)
    if document is None:
        raise web.HTTPNotFound(text=_("No such profile."))
    async with services.db.transaction() as session:
        audit(request, session, "console.profile_exported", f"profile:{profile_id}")
    return web.Response(
        body=json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8"),
        content_type="application/json",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="profile-{profile_id}.json"'},
    )


@admin_only
async def profile_erase(request: web.Request) -> web.StreamResponse:
    profile_id = _profile_id(request)
    form = await request.post()
    if form.get("confirm") != "ERASE":
        # The profile again, with the reason beside the form, so the admin can read it and try again.
        return await _render_profile(
            request,
            profile_id,
            errors=(_("Type ERASE in capitals in the box to confirm the erasure; nothing was changed."),),
            status=400,
        )
    # identity.erase writes its own audit entry ("data.erased") in the same transaction.
    report = await erase_profile(request.app[SERVICES], profile_id, actor=actor_name(request[VIEWER]))
    if report is None:
        raise web.HTTPNotFound(text=_("No such profile."))
    request[AUDITED] = True
    raise redirect(request, f"/profiles/{profile_id}", "erased")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/profiles", profile_search)
    router.add_get("/profiles/{profile_id}", profile_page)
    router.add_post("/profiles/{profile_id}/export", profile_export)
    router.add_post("/profiles/{profile_id}/erase", profile_erase)
