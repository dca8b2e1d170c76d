"""Channel QR codes from the console, the reports page's figures, and a profile's timeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from base.clock import FakeClock
from console.keys import SERVICES
from journeys.report import journey_report
from sandbox.fake_wechat import FakeWeChat
from storage.db import Database
from storage.models.core import AuditEntry, DomainEvent, Follower, InboundEvent
from storage.models.engagement import Channel
from storage.models.links import LinkClick
from storage.models.orders import Order
from storage.models.pushes import PushAttribution
from storage.reports import template_figures
from tests.console import seed
from tests.console.conftest import csrf
from wechat.api.client import WeChatAPI

pytestmark = pytest.mark.storage


@pytest.fixture
async def fake_api(console_app: web.Application, db: Database, clock: FakeClock) -> AsyncIterator[FakeWeChat]:
    services = console_app[SERVICES]
    async with FakeWeChat(clock=clock) as fake:
        settings = services.settings.with_overrides(wechat_api_base=fake.base_url)
        async with WeChatAPI(settings, db, clock) as api:
            services.wechat_api = api
            yield fake
            services.wechat_api = None


def _form(client: TestClient[Any, Any], **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf(client), "appid": seed.APPID, **fields}


async def test_an_admin_creates_a_channel_and_downloads_its_qr_code(
    admin: TestClient[Any, Any], editor: TestClient[Any, Any], fake_api: FakeWeChat, db: Database, clock: FakeClock
) -> None:
    created = await admin.post(
        "/console/channels", data=_form(admin, name="上海静安店", scene="store-42", kind="temporary", days="7")
    )
    assert created.status == 200 and "Channel created" in await created.text()
    async with db.session() as session:
        channel = (await session.exec(select(Channel))).one()
        actions = [e.action for e in (await session.exec(select(AuditEntry))).all()]
    assert fake_api.qrcodes[channel.ticket]["scene"] == "store-42"
    assert channel.expires_at == clock.now() + timedelta(days=7) and "console.channel_created" in actions
    png = await admin.get(f"/console/channels/{channel.id}/qr.png")
    assert png.status == 200 and (await png.read()).startswith(b"\x89PNG")
    # Followers who came through it are counted on the page.
    follower_id, _profile = await seed.person(db, clock.now(), openid="o-s", phone="+8613800138009", channel="store-42")
    await seed.person(db, clock.now(), openid="o-t", phone=None, channel="store-42")
    async with db.transaction() as session:
        session.add(DomainEvent(kind="consent_withdrawn", occurred_at=clock.now(), follower_id=follower_id))
    page = await (await admin.get("/console/channels")).text()
    row = page.split("<code>store-42</code>", 1)[1].split("</tr>", 1)[0]
    cells = [cell.split("</td>")[0] for cell in row.split('<td class="num">')[1:]]
    assert cells[:3] == ["2", "2", "1"] and cells[-1] == "1"  # follows, still following, bound ... opted out
    assert "<svg" in page
    # Editors do not manage channels.
    assert (await editor.get("/console/channels")).status == 403
    assert (await editor.get(f"/console/channels/{channel.id}/qr.png")).status == 403


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"name": "", "scene": "s1"}, "Give the channel a name"),
        ({"name": "店", "scene": "has space"}, "The scene is 1-64 letters"),
        ({"name": "店", "scene": "s1", "days": "31"}, "A temporary QR code lasts 1 to 30 days."),
        ({"name": "店", "scene": "s1", "appid": "wxnotours"}, "Choose one of the accounts."),
    ],
)
async def test_a_bad_channel_form_says_why_and_calls_nobody(
    admin: TestClient[Any, Any], fake_api: FakeWeChat, fields: dict[str, str], why: str
) -> None:
    answer = await admin.post("/console/channels", data=_form(admin, kind="temporary", days="7") | fields)
    assert answer.status == 400 and why in await answer.text()
    assert fake_api.qrcodes == {}


async def test_a_taken_scene_is_refused_clearly(admin: TestClient[Any, Any], fake_api: FakeWeChat) -> None:
    await admin.post("/console/channels", data=_form(admin, name="A", scene="dup", kind="permanent"))
    again = await admin.post("/console/channels", data=_form(admin, name="B", scene="dup", kind="permanent"))
    assert again.status == 400 and "Scene “dup” already has a channel on this account." in await again.text()


async def test_reports_show_delivered_clicked_purchased_as_the_cli_does(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    _template_id, journey_id = await seed.template_and_journey(db, now)
    pushes = []
    for i in range(4):
        follower_id, profile_id = await seed.person(db, now, openid=f"o{i}", phone=f"+861380013800{i}")
        pushes.append(await seed.push(db, now, follower_id=follower_id, journey_id=journey_id, status="sent",
                                      profile_id=profile_id))  # fmt: skip
    async with db.transaction() as session:
        for push_id in pushes[:2]:
            session.add(
                LinkClick(
                    delivery_kind="push", delivery_id=push_id, template_version_id=1, link_index=0,
                    target="https://shop.example/a", journey_id=journey_id, step_key="hello", visitor=f"c:{push_id}",
                    via="browser", clicked_at=now,
                )
            )  # fmt: skip
        session.add(
            PushAttribution(
                push_id=pushes[0], journey_id=journey_id, profile_id=1, platform="tmall", order_no="T1",
                amount_fen=19900, ordered_at=now, attributed_at=now,
            )
        )  # fmt: skip
    page = await (await editor.get("/console/reports")).text()
    step = page.split('<tr data-step="hello">', 1)[1].split("</tr>", 1)[0]
    cells = [cell.split("</td>")[0] for cell in step.split('<td class="num">')[1:]]
    assert cells[:6] == ["4", "2", "50%", "1", "25%", "¥199.00"]
    async with db.session() as session:
        report = await journey_report(session)
        templates = await template_figures(session)
    figures = report[0]["steps"][0]
    assert (figures["sent"], figures["clicked"], figures["orders"], figures["click_rate"]) == (4, 2, 1, 0.5)
    template_row = page.split('<tr data-template="welcome">', 1)[1].split("</tr>", 1)[0]
    assert f'<td class="num">{templates[0].clicked}</td>' in template_row and templates[0].clicked == 2
    assert page.count("<svg") >= 2


async def test_the_profile_timeline_holds_clicks_taps_chat_pushes_and_orders(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    _template_id, journey_id = await seed.template_and_journey(db, now)
    follower_id, profile_id = await seed.person(db, now, openid="o-tl", phone="+8613800138011", channel="kol")
    assert profile_id is not None
    await seed.push(db, now, follower_id=follower_id, journey_id=journey_id, status="sent", profile_id=profile_id)
    async with db.transaction() as session:
        follower = await session.get(Follower, follower_id)
        assert follower is not None
        for minutes, kind, payload in (
            (1, "followed", {"scene": "kol"}),
            (2, "menu_tapped", {"type": "click", "key": "MEMBER_CARD"}),
            (3, "link_clicked", {"target": "https://shop.example/spring", "step": "hello", "forwarded": False}),
            (4, "keyword_replied", {"keyword": "优惠"}),
        ):
            session.add(DomainEvent(kind=kind, occurred_at=now + timedelta(minutes=minutes), appid=follower.appid,
                                    follower_id=follower_id, profile_id=profile_id, payload=payload))  # fmt: skip
        session.add(
            InboundEvent(
                dedup_key="m1",
                appid=follower.appid,
                openid="o-tl",
                kind="text",
                received_at=now + timedelta(minutes=5),
                state="done",
                payload={"MsgType": "text", "Content": "还有货吗"},
                reply={"kind": "text", "content": "有的"},
            )
        )
        session.add(
            Order(
                platform="tmall",
                order_no="T9",
                profile_id=profile_id,
                status="completed",
                paid_fen=5000,
                ordered_at=now + timedelta(minutes=6),
                created_at=now,
                updated_at=now,
            )  # fmt: skip
        )
    html = await (await editor.get(f"/console/profiles/{profile_id}")).text()
    timeline = html.split('<table id="timeline">', 1)[1].split("</table>", 1)[0]
    kinds = [row.split('"', 1)[0] for row in timeline.split('<tr class="timeline-')[1:]]
    assert kinds == ["order", "chat", "keyword_replied", "link_clicked", "menu_tapped", "followed", "push"]
    assert "https://shop.example/spring (step hello)" in timeline
    assert "“还有货吗” → answered “有的”" in timeline
    assert "MEMBER_CARD" in timeline and "through channel “kol”" in timeline
