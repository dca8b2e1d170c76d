"""`scrm channels create|list|png`: channel QR codes and what each brought."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from base.clock import CHINA, SystemClock, real_clock
from base.settings import Settings
from engagement.channels import MAX_TEMPORARY_DAYS, ChannelError, create_channel, qr_png
from scrm.cli.common import print_json, settings_for, with_database
from scrm.cli.main import UsageError
from storage.channels import all_channels, channel_by_id, channel_figures
from storage.db import Database
from wechat.api.client import WeChatAPI
from wechat.api.errors import WeChatError


def register(subparsers: Any) -> None:
    channels = subparsers.add_parser("channels", help="channel QR codes for stores, events and campaigns")
    actions = channels.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    create = actions.add_parser("create", help="ask WeChat for a parametric QR code and keep it")
    create.add_argument("--name", required=True, help="what the channel is, e.g. 上海静安店")
    create.add_argument("--scene", required=True, help="1-64 letters, digits, _ or -: what followers carry")
    create.add_argument("--permanent", action="store_true", help="a permanent code (default: temporary)")
    create.add_argument("--days", type=int, default=MAX_TEMPORARY_DAYS, help="a temporary code's life (1-30)")
    create.add_argument("--appid", default="", help="the account (default: WECHAT_APPID)")
    create.set_defaults(run=_create)
    listing = actions.add_parser("list", help="channels with their follows, bindings, buyers and opt-outs")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=_list)
    png = actions.add_parser("png", help="write a channel's QR code as a PNG file")
    png.add_argument("channel_id", type=int)
    png.add_argument("--out", type=Path, required=True)
    png.add_argument("--scale", type=int, default=8, help="pixels per module (default 8)")
    png.set_defaults(run=_png)


def _create(args: argparse.Namespace) -> int:
    settings = settings_for(require_wechat=True)
    appid = args.appid or settings.wechat_appid

    async def create(db: Database, settings: Settings) -> int:
        clock = SystemClock()
        api = WeChatAPI(settings, db, real_clock(clock))
        try:
            async with db.transaction() as session:
                channel = await create_channel(
                    session, api, appid=appid, name=args.name, scene=args.scene, permanent=args.permanent,
                    days=args.days, actor="cli", now=clock.now(),
                )  # fmt: skip
        except (ChannelError, WeChatError, ValueError) as error:
            raise UsageError(str(error)) from None
        finally:
            await api.close()
        print(f"channel #{channel.id} {channel.name} (scene {channel.scene}): {channel.url}")
        return 0

    return with_database(create, settings)


def _list(args: argparse.Namespace) -> int:
    async def show(db: Database, _settings: Settings) -> int:
        async with db.session() as session:
            channels = await all_channels(session)
            figures: dict[str, Any] = {}
            for appid in {channel.appid for channel in channels}:
                scenes = [channel.scene for channel in channels if channel.appid == appid]
                figures.update({f"{appid}/{s}": f for s, f in (await channel_figures(session, appid, scenes)).items()})
        rows = [
            {
                "id": channel.id, "name": channel.name, "appid": channel.appid, "scene": channel.scene,
                "permanent": channel.permanent, "url": channel.url,
                "expires_at": channel.expires_at.astimezone(CHINA).isoformat() if channel.expires_at else None,
                **{k: v for k, v in vars(figures[f"{channel.appid}/{channel.scene}"]).items() if k != "scene"},
            }
            for channel in channels
        ]  # fmt: skip
        if args.json:
            print_json({"channels": rows})
        elif not rows:
            print("no channels")
        for row in rows if not args.json else []:
            print(
                f"#{row['id']} {row['name']} ({row['scene']}): {row['follows']} follows, {row['bound']} bound, "
                f"{row['buyers']} buyers, ¥{row['revenue_fen'] / 100:,.2f}, {row['unfollowed']} unfollowed, "
                f"{row['consent_withdrawn']} opted out"
            )
        return 0

    return with_database(show)


def _png(args: argparse.Namespace) -> int:
    if not 1 <= args.scale <= 40:
        raise UsageError("--scale must be 1-40")

    async def write(db: Database, _settings: Settings) -> int:
        async with db.session() as session:
            channel = await channel_by_id(session, args.channel_id)
        if channel is None:
            raise UsageError(f"no channel #{args.channel_id}")
        args.out.write_bytes(qr_png(channel, args.scale))
        print(f"wrote {args.out}")
        return 0

    return with_database(write)
