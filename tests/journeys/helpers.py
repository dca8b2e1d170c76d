"""Builders for journey tests: followers, consents, templates, pushes, and a wired dispatcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from content.templates import content_hash
from identity.consent import record_consent
from journeys.adapters import ContentRenderer, WeChatSender
from journeys.dispatcher import DispatcherConfig, PushDispatcher
from journeys.policy import DispatchPolicy
from sandbox.fake_wechat import FakeWeChat
from storage.db import Database
from storage.models.content import Template, TemplateVersion
from storage.models.core import Follower
from storage.models.pushes import Push
from wechat.api.client import WeChatAPI

APPID = "wx1234567890abcdef"


async def add_follower(
    db: Database,
    clock: FakeClock,
    openid: str,
    *,
    consent: bool = True,
    last_message_ago: timedelta | None = timedelta(minutes=5),
    last_event_ago: timedelta | None = None,
    status: str = "subscribed",
) -> int:
    """A follower (with marketing consent and a recent message by default); returns its id."""
    now = clock.now()
    async with db.session() as session:
        follower = Follower(
            appid=APPID,
            openid=openid,
            status=status,
            subscribed_at=now - timedelta(days=1),
            last_message_at=None if last_message_ago is None else now - last_message_ago,
            last_event_at=None if last_event_ago is None else now - last_event_ago,
            created_at=now,
            updated_at=now,
        )
        session.add(follower)
        await session.flush()
        assert follower.id is not None
        if consent:
            await record_consent(session, follower.id, granted=True, at=now, text_shown="yes", source="test")
        await session.commit()
        return follower.id


async def add_template(
    db: Database, clock: FakeClock, name: str, body: dict[str, Any] | None = None
) -> tuple[int, str, str]:
    """A published template; returns (version id, kind, purpose)."""
    body = body or {"kind": "text", "purpose": "marketing", "content": f"hello from {name}"}
    now = clock.now()
    async with db.session() as session:
        template = Template(
            name=name, kind=body["kind"], purpose=body.get("purpose", "marketing"), created_at=now, updated_at=now
        )
        session.add(template)
        await session.flush()
        assert template.id is not None
        version = TemplateVersion(
            template_id=template.id, version=1, body=body, content_hash=content_hash(body), state="published",
            created_at=now, published_at=now,
        )  # fmt: skip
        session.add(version)
        await session.flush()
        template.current_version_id = version.id
        await session.commit()
        assert version.id is not None
        return version.id, body["kind"], body.get("purpose", "marketing")


async def add_push(
    db: Database,
    clock: FakeClock,
    follower_id: int,
    version: tuple[int, str, str],
    *,
    due_in: timedelta = timedelta(0),
    expires_in: timedelta | None = timedelta(days=3),
    **extra: Any,
) -> int:
    now = clock.now()
    async with db.session() as session:
        follower = await session.get(Follower, follower_id)
        assert follower is not None
        push = Push(
            follower_id=follower_id, appid=follower.appid, openid=follower.openid, template_version_id=version[0],
            template_kind=version[1], purpose=version[2], due_at=now + due_in,
            expires_at=None if expires_in is None else now + expires_in, created_at=now, **extra,
        )  # fmt: skip
        session.add(push)
        await session.commit()
        assert push.id is not None
        return push.id


async def push_states(db: Database) -> dict[int, Push]:
    async with db.session() as session:
        return {p.id: p for p in (await session.exec(select(Push))).all() if p.id is not None}


async def follower(db: Database, follower_id: int) -> Follower:
    async with db.session() as session:
        found = await session.get(Follower, follower_id)
        assert found is not None
        return found


@dataclass
class Wired:
    fake: FakeWeChat
    api: WeChatAPI
    dispatcher: PushDispatcher
    settings: Settings


@asynccontextmanager
async def wired_dispatcher(
    db: Database, clock: FakeClock, settings: Settings, config: DispatcherConfig | None = None
) -> AsyncIterator[Wired]:
    """A dispatcher sending through the real client to a FakeWeChat sharing the test's clock."""
    async with FakeWeChat(clock=clock) as fake:
        settings = settings.with_overrides(wechat_api_base=fake.base_url)
        async with WeChatAPI(settings, db, clock) as api:
            dispatcher = PushDispatcher(
                db,
                WeChatSender(api),
                ContentRenderer(db, clock),
                clock,
                DispatchPolicy.from_settings(settings),
                config or DispatcherConfig(backoff_base=timedelta(seconds=30)),
            )
            yield Wired(fake, api, dispatcher, settings)


def at_china(clock: FakeClock, hour: int, minute: int = 0) -> datetime:
    """Move the clock to today's `hour:minute` China time (10:00 China = 02:00 UTC)."""
    from base.clock import CHINA

    local = clock.now().astimezone(CHINA).replace(hour=hour, minute=minute, second=0, microsecond=0)
    clock.set(local)
    return clock.now()


async def bulk_pushes(db: Database, count: int, now: datetime, version: tuple[int, str, str], prefix: str) -> list[str]:
    """`count` followers inside their message window, each with one due push; returns their openids."""
    from sqlalchemy import insert

    from storage.models.core import Follower as FollowerModel
    from storage.pushes import FOLLOWERS, PUSHES

    openids = [f"{prefix}-{i}" for i in range(count)]
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(FOLLOWERS),
            [
                {"appid": APPID, "openid": o, "status": "subscribed", "last_message_at": now - timedelta(minutes=5),
                 "created_at": now, "updated_at": now, "tags": []}
                for o in openids
            ],
        )  # fmt: skip
        rows = await conn.execute(
            select(FollowerModel.id, FollowerModel.openid).where(FollowerModel.openid.startswith(prefix))
        )
        ids = dict((openid, fid) for fid, openid in rows.all())
        await conn.execute(
            insert(PUSHES),
            [
                {"follower_id": ids[o], "appid": APPID, "openid": o, "template_version_id": version[0],
                 "template_kind": version[1], "purpose": version[2], "due_at": now,
                 "expires_at": now + timedelta(days=3), "status": "pending", "context": {}, "created_at": now,
                 "attempts": 0, "step_index": 0}
                for o in openids
            ],
        )  # fmt: skip
    return openids
