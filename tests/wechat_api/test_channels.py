"""Channel QR codes: created through the QR-code API, drawn as PNG, and counted per channel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from base.clock import FakeClock
from engagement.channels import ChannelError, create_channel, qr_png
from sandbox.fake_wechat import FakeWeChat
from storage.channels import all_channels, channel_figures
from storage.db import Database
from storage.models.core import DomainEvent, Follower, Profile
from storage.models.orders import Order
from tests.wechat_api.conftest import APPID
from wechat.api.client import WeChatAPI

pytestmark = pytest.mark.storage


async def test_a_temporary_and_a_permanent_channel(
    db: Database, api: WeChatAPI, fake: FakeWeChat, clock: FakeClock
) -> None:
    async with db.transaction() as session:
        store = await create_channel(
            session, api, appid=APPID, name="上海静安店", scene="store-42", permanent=False, days=7, actor="ana",
            now=clock.now(),
        )  # fmt: skip
        event = await create_channel(
            session,
            api,
            appid=APPID,
            name="双十一快闪",
            scene="popup_1111",
            permanent=True,
            actor="ana",
            now=clock.now(),
        )
    assert fake.qrcodes[store.ticket]["scene"] == "store-42" and not fake.qrcodes[store.ticket]["permanent"]
    assert fake.qrcodes[event.ticket]["permanent"] and event.expires_at is None
    assert store.expires_at == clock.now() + timedelta(days=7)
    async with db.session() as session:
        assert [c.scene for c in await all_channels(session, APPID)] == ["popup_1111", "store-42"]
    png = qr_png(store)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png != qr_png(event)


@pytest.mark.parametrize(
    ("name", "scene", "days", "why"),
    [
        ("", "s1", 7, "name"),
        ("店", "has space", 7, "scene"),
        ("店", "s" * 65, 7, "scene"),
        ("店", "s1", 31, "1-30 days"),
        ("店", "taken", 7, "already has a channel"),
    ],
)
async def test_bad_channels_are_refused_before_calling_wechat(
    db: Database, api: WeChatAPI, fake: FakeWeChat, clock: FakeClock, name: str, scene: str, days: int, why: str
) -> None:
    async with db.transaction() as session:
        await create_channel(
            session, api, appid=APPID, name="店", scene="taken", permanent=True, actor="a", now=clock.now()
        )
    calls = len(fake.calls_to("qrcode/create"))
    async with db.transaction() as session:
        with pytest.raises(ChannelError, match=why):
            await create_channel(
                session,
                api,
                appid=APPID,
                name=name,
                scene=scene,
                permanent=False,
                days=days,
                actor="a",
                now=clock.now(),
            )
    assert len(fake.calls_to("qrcode/create")) == calls


async def test_figures_per_channel(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    async with db.transaction() as session:
        profiles = [Profile(phone_key=f"k{n}", phone_sealed="s", created_at=now, updated_at=now) for n in range(3)]
        session.add_all(profiles)
        await session.flush()
        followers = [
            Follower(appid=APPID, openid="o1", channel_scene="store-42", subscribed_at=now, profile_id=profiles[0].id,
                     created_at=now, updated_at=now),
            Follower(appid=APPID, openid="o2", channel_scene="store-42", subscribed_at=now, profile_id=profiles[1].id,
                     created_at=now, updated_at=now),
            Follower(appid=APPID, openid="o3", channel_scene="store-42", status="unsubscribed", subscribed_at=now,
                     created_at=now, updated_at=now),
            Follower(appid=APPID, openid="o4", channel_scene="kol-7", subscribed_at=now, profile_id=profiles[2].id,
                     created_at=now, updated_at=now),
        ]  # fmt: skip
        session.add_all(followers)
        await session.flush()
        session.add_all(
            [
                # Before the follow: not this channel's doing.
                Order(platform="tmall", order_no="A", status="paid", profile_id=profiles[0].id, paid_fen=100,
                      ordered_at=now - timedelta(days=3), created_at=now, updated_at=now),
                Order(platform="tmall", order_no="B", status="paid", profile_id=profiles[0].id, paid_fen=19900,
                      ordered_at=now + timedelta(days=1), created_at=now, updated_at=now),
                Order(platform="jd", order_no="C", status="paid", profile_id=profiles[0].id, paid_fen=5000,
                      ordered_at=now + timedelta(days=2), created_at=now, updated_at=now),
                DomainEvent(kind="consent_withdrawn", occurred_at=now, follower_id=followers[1].id, payload={}),
            ]
        )  # fmt: skip
    async with db.session() as session:
        figures = await channel_figures(session, APPID, ["store-42", "kol-7", "unused"])
    store = figures["store-42"]
    assert (store.follows, store.still_following, store.bound, store.unfollowed) == (3, 2, 2, 1)
    assert (store.buyers, store.orders, store.revenue_fen, store.consent_withdrawn) == (1, 2, 24900, 1)
    assert (figures["kol-7"].follows, figures["kol-7"].buyers) == (1, 0)
    assert figures["unused"].follows == 0
