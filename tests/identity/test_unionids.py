"""Unionids arrive through user/info, not callbacks; once learned, known people are linked."""

from __future__ import annotations

from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from identity.unionids import UnionidFetcher
from sandbox.fake_wechat import FakeWeChat
from storage.db import Database
from storage.models.core import Follower, Profile
from wechat.api.client import WeChatAPI


async def test_learned_unionid_links_a_follower_the_brand_already_knows(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    now = clock.now()
    appid = settings.wechat_appid
    async with db.transaction() as session:
        profile = Profile(phone_key="+8613900002222", phone_sealed="+8613900002222", created_at=now, updated_at=now)
        session.add(profile)
        await session.flush()
        session.add(
            Follower(appid="wxotheraccount0009", openid="o-mini", unionid="u-1", profile_id=profile.id,
                     created_at=now, updated_at=now)
        )  # fmt: skip
        for openid in ("o-new", "o-unbound-account"):
            session.add(Follower(appid=appid, openid=openid, created_at=now, updated_at=now))
    async with FakeWeChat(clock=clock) as fake:
        fake.add_follower("o-new", appid=appid, unionid="u-1")
        fake.add_follower("o-unbound-account", appid=appid)
        async with WeChatAPI(settings.with_overrides(wechat_api_base=fake.base_url), db, clock) as api:
            fetcher = UnionidFetcher(db, api, clock)
            assert await fetcher.run() == {"checked": 2, "learned": 1, "linked": 1}
            # The cursor keeps a second run from asking about the same followers again.
            assert (await fetcher.run())["checked"] == 0
    async with db.session() as session:
        found = {f.openid: f for f in (await session.exec(select(Follower))).all()}
    assert found["o-new"].unionid == "u-1" and found["o-new"].profile_id == profile.id
    assert found["o-unbound-account"].unionid is None and found["o-unbound-account"].profile_id is None
