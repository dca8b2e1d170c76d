"""Channel QR codes (admins): create one per store, event or campaign, download its PNG, see what it brought."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from base.i18n import N_, _
from console.access import admin_only
from console.audit import audit
from console.charts import Series, grouped_bar_chart
from console.engine_text import engine_text
from console.keys import SERVICES, VIEWER
from console.lookup import get_or_404
from console.rendering import redirect, render_page
from console.security import actor_name
from engagement.channels import MAX_TEMPORARY_DAYS, SCENE, ChannelError, create_channel, qr_png
from storage.channels import ChannelFigures, account_choices, all_channels, channel_figures
from storage.models.engagement import Channel
from wechat.api.errors import WeChatError

NO_CHANNEL = N_("No such channel.")


async def _page(request: web.Request, *, form: dict[str, str] | None = None, errors: list[str] | None = None,
                status: int = 200) -> web.Response:  # fmt: skip
    services = request.app[SERVICES]
    async with services.db.session() as session:
        rows = await channel_rows(session)
        accounts = await account_choices(session)
    default_appid = services.settings.wechat_appid
    if default_appid and default_appid not in {appid for appid, _name in accounts}:
        accounts.insert(0, (default_appid, ""))
    return render_page(
        request,
        "channels.html",
        status=status,
        rows=rows,
        accounts=accounts,
        form=form or {"days": str(MAX_TEMPORARY_DAYS), "kind": "temporary"},
        errors=errors or [],
        max_days=MAX_TEMPORARY_DAYS,
        chart=channel_chart([(channel.name, found) for channel, found in rows]),
        now=services.clock.now(),
        # What a store's channel typically looks like, as placeholders of the form.
        name_example="上海静安店",
        scene_example="store-42",
    )


async def channel_rows(session: AsyncSession) -> list[tuple[Channel, ChannelFigures]]:
    """Every channel, newest first, with its figures (one query set per account, none per channel)."""
    channels = await all_channels(session)
    figures: dict[tuple[str, str], ChannelFigures] = {}
    for appid in sorted({channel.appid for channel in channels}):
        scenes = [channel.scene for channel in channels if channel.appid == appid]
        for scene, found in (await channel_figures(session, appid, scenes)).items():
            figures[(appid, scene)] = found
    empty = ChannelFigures
    return [(channel, figures.get((channel.appid, channel.scene)) or empty(channel.scene)) for channel in channels]


def channel_chart(rows: list[tuple[str, ChannelFigures]]) -> Any:
    """Follows, bindings, buyers and opt-outs side by side per channel."""
    return grouped_bar_chart(
        [name for name, _figures in rows],
        [
            Series(_("Follows"), [f.follows for _name, f in rows]),
            Series(_("Bound a phone"), [f.bound for _name, f in rows]),
            Series(_("Buyers"), [f.buyers for _name, f in rows]),
            Series(_("Unfollowed"), [f.unfollowed for _name, f in rows]),
            Series(_("Opted out"), [f.consent_withdrawn for _name, f in rows]),
        ],
        title=_("What each channel brought"),
    )


@admin_only
async def channel_list(request: web.Request) -> web.StreamResponse:
    return await _page(request)


def check_channel_form(form: dict[str, str], appids: set[str]) -> tuple[int, list[str]]:
    """The temporary code's days, and every reason the form cannot be used (in the reader's language)."""
    errors = []
    name, scene = form.get("name", "").strip(), form.get("scene", "").strip()
    if not 1 <= len(name) <= 100:
        errors.append(_("Give the channel a name of 1-100 characters, like 上海静安店."))
    if not SCENE.match(scene):
        errors.append(_("The scene is 1-64 letters, digits, “_” or “-”, like store-42."))
    if form.get("appid", "") not in appids:
        errors.append(_("Choose one of the accounts."))
    days = 0
    if form.get("kind") != "permanent":
        raw = form.get("days", "").strip()
        days = int(raw) if raw.isdigit() else 0
        if not 1 <= days <= MAX_TEMPORARY_DAYS:
            errors.append(_("A temporary QR code lasts 1 to %(days)s days.") % {"days": MAX_TEMPORARY_DAYS})
    return days, errors


@admin_only
async def channel_create(request: web.Request) -> web.StreamResponse:
    form = {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
    services = request.app[SERVICES]
    async with services.db.session() as session:
        appids = {appid for appid, _name in await account_choices(session)} | {services.settings.wechat_appid} - {""}
    days, errors = check_channel_form(form, appids)
    api = services.wechat_api
    if not errors and api is None:
        errors.append(_("No WeChat API client is configured in this process; channels cannot be created."))
    if errors or api is None:
        return await _page(request, form=form, errors=errors, status=400)
    permanent = form.get("kind") == "permanent"
    try:
        async with services.db.transaction() as session:
            channel = await create_channel(
                session, api, appid=form["appid"], name=form.get("name", ""), scene=form.get("scene", ""),
                permanent=permanent, days=days or MAX_TEMPORARY_DAYS, actor=actor_name(request[VIEWER]),
                now=services.clock.now(),
            )  # fmt: skip
            audit(request, session, "console.channel_created", f"channel:{channel.scene}", permanent=permanent)
    except ChannelError as error:
        if "already has a channel" in str(error):
            message = _("Scene “%(scene)s” already has a channel on this account.") % {"scene": form.get("scene", "")}
        else:
            message = engine_text(str(error))
        return await _page(request, form=form, errors=[message], status=400)
    except (WeChatError, aiohttp.ClientError, TimeoutError) as error:
        message = _("WeChat did not create the QR code: %(error)s") % {"error": engine_text(str(error))}
        return await _page(request, form=form, errors=[message], status=502)
    raise redirect(request, "/channels", "channel_created")


@admin_only
async def channel_png(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        channel = await get_or_404(session, Channel, request, "channel_id", NO_CHANNEL)
    png = await asyncio.to_thread(qr_png, channel)
    return web.Response(
        body=png,
        content_type="image/png",
        headers={"Content-Disposition": f'attachment; filename="channel-{channel.scene}.png"'},
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/channels", channel_list)
    router.add_post("/channels", channel_create)
    router.add_get("/channels/{channel_id}/qr.png", channel_png)
