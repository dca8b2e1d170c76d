"""Channel QR codes: one parametric QR code per store, event or campaign, and its PNG.

A follower who scans one and follows carries its scene (`followers.channel_scene`), so follows, bindings,
purchases and opt-outs can be counted per channel (`storage.channels.channel_figures`).
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import segno
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.channels import channel_by_scene
from storage.models.engagement import Channel
from wechat.api.client import TEMPORARY_QR_MAX_SECONDS, WeChatAPI

# WeChat takes a scene string of 1-64 characters; keeping to these keeps it readable in reports and URLs.
SCENE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_TEMPORARY_DAYS = TEMPORARY_QR_MAX_SECONDS // 86_400


class ChannelError(ValueError):
    """The channel cannot be created as asked; the message says why."""


async def create_channel(
    session: AsyncSession,
    api: WeChatAPI,
    *,
    appid: str,
    name: str,
    scene: str,
    permanent: bool,
    days: int = MAX_TEMPORARY_DAYS,
    actor: str,
    now: datetime,
) -> Channel:
    """Ask WeChat for the QR code and keep it; the caller commits."""
    name, scene = name.strip(), scene.strip()
    if not name or len(name) > 100:
        raise ChannelError("a channel needs a name of 1-100 characters")
    if not SCENE.match(scene):
        raise ChannelError(f"scene {scene!r}: use 1-64 letters, digits, '_' or '-'")
    if not permanent and not 1 <= days <= MAX_TEMPORARY_DAYS:
        raise ChannelError(f"a temporary QR code lasts 1-{MAX_TEMPORARY_DAYS} days, not {days}")
    if await channel_by_scene(session, appid, scene) is not None:
        raise ChannelError(f"scene {scene!r} already has a channel on this account")
    seconds = days * 86_400
    answer = await api.create_qrcode(appid, scene, permanent=permanent, expire_seconds=seconds)
    expires = None if permanent else now + timedelta(seconds=int(answer.get("expire_seconds", seconds)))
    channel = Channel(
        appid=appid, name=name, scene=scene, permanent=permanent, ticket=str(answer["ticket"]),
        url=str(answer["url"]), expires_at=expires, created_by=actor, created_at=now,
    )  # fmt: skip
    session.add(channel)
    try:
        await session.flush()
    except IntegrityError as error:  # a concurrent create of the same scene
        raise ChannelError(f"scene {scene!r} already has a channel on this account") from error
    return channel


def qr_png(channel: Channel, scale: int = 8) -> bytes:
    """The QR code as a PNG, drawn from the URL WeChat gave (CPU work: call it in a thread from a server)."""
    out = io.BytesIO()
    segno.make(channel.url, error="m").save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


__all__ = ["MAX_TEMPORARY_DAYS", "ChannelError", "create_channel", "qr_png"]
