"""In headless Chromium, in Chinese and in English: an admin filters the profile list, saves the filter as a
segment, opens a follower's profile from the deliveries, creates a channel QR code and reads the reports."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from base.clock import FakeClock
from console.keys import SERVICES
from sandbox.fake_wechat import FakeWeChat
from storage.console import create_user
from storage.db import Database
from tests.console import seed
from tests.console.browser.conftest import CHROMIUM, CHROMIUM_ARGS, shot
from tests.console.conftest import ADMIN_PASSWORD, _hash
from tests.support.catalogs import untranslated
from wechat.api.client import WeChatAPI

pytestmark = pytest.mark.browser

BROWSER_LOCALE = {"zh_CN": "zh-CN", "en": "en-US"}
WORDS = {
    "zh_CN": {"saved": "已保存的人群", "created": "渠道已创建", "reports": "报表", "timeline": "时间线"},
    "en": {"saved": "Saved segments", "created": "Channel created", "reports": "Reports", "timeline": "Timeline"},
}


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def wechat(console_app: web.Application, db: Database, clock: FakeClock) -> AsyncIterator[FakeWeChat]:
    services = console_app[SERVICES]
    async with FakeWeChat(clock=clock) as fake:
        settings = services.settings.with_overrides(wechat_api_base=fake.base_url)
        async with WeChatAPI(settings, db, clock) as api:
            services.wechat_api = api
            yield fake
            services.wechat_api = None


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_profiles_segments_channels_and_reports(
    locale: str, chromium: Any, aiohttp_server: Any, console_root: web.Application, wechat: FakeWeChat,
    db: Database, clock: FakeClock,
) -> None:  # fmt: skip
    now = clock.now()
    _template_id, journey_id = await seed.template_and_journey(db, now)
    people = [
        await seed.person(db, now, openid=f"o-b{i}", phone=f"+86138001381{i:02d}", name=f"顾客{i}", orders=i)
        for i in range(4)
    ]
    buyer, buyer_profile = people[3]
    await seed.push(db, now, follower_id=buyer, journey_id=journey_id, status="sent", profile_id=buyer_profile)
    async with db.transaction() as session:
        await create_user(
            session, name="li", role="admin", password_hash=_hash(ADMIN_PASSWORD), now=clock.now(), locale=locale
        )
    server = await aiohttp_server(console_root, host="127.0.0.1")
    base = f"http://127.0.0.1:{server.port}"
    context = await chromium.new_context(locale=BROWSER_LOCALE[locale], viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(15_000)
    failures: list[str] = []
    page.on(
        "response", lambda answer: failures.append(f"{answer.status} {answer.url}") if answer.status >= 400 else None
    )
    words = WORDS[locale]

    async def readable() -> None:
        if locale == "zh_CN":
            assert untranslated(await page.content()) == [], page.url

    await page.goto(f"{base}/console/login")
    await page.fill("input[name=name]", "li")
    await page.fill("input[name=password]", ADMIN_PASSWORD)
    await page.click("form.login-card button[type=submit]")
    await page.wait_for_url(f"{base}/console/")

    # The filter form is a GET: the URL it lands on is the filter, to share or bookmark.
    await page.click("header nav a[href='/console/profiles']")
    await page.fill("#profile-filter input[name=orders_min]", "2")
    await page.select_option("#profile-filter select[name=sort]", "orders")
    await page.click("#profile-filter button[type=submit]")
    await page.wait_for_url(re.compile(r".*orders_min=2.*sort=orders"))
    names = await page.locator("#profile-list tbody tr td:nth-child(2)").all_inner_texts()
    assert names == ["顾客3", "顾客2"]
    await readable()
    await page.screenshot(path=str(shot(f"profile-list-{locale}")), full_page=True)

    # Saved as a segment, it is listed with the name mass sends and journeys use.
    await page.fill("#save-segment input[name=name]", "repeat_buyers")
    await page.click("#save-segment button[type=submit]")
    await page.wait_for_url(f"{base}/console/profiles/segments?notice=saved")
    assert words["saved"] in await page.inner_text("h1")
    assert "saved:repeat_buyers" in await page.inner_text("#saved-segments")
    await readable()
    await page.click("#saved-segments a:text('repeat_buyers')")
    await page.wait_for_url(re.compile(r".*/console/profiles\?.*orders_min=2"))
    assert await page.locator("#profile-list tbody tr").count() == 2

    # From a delivery to the follower's profile, with its timeline.
    await page.goto(f"{base}/console/deliveries")
    await page.click("a.follower-profile")
    await page.wait_for_url(f"{base}/console/profiles/{buyer_profile}")
    assert words["timeline"] in await page.inner_text("body")
    assert await page.locator("#timeline tr.timeline-push").count() == 1
    await readable()

    # A channel QR code, created through the (fake) WeChat API, downloadable as a PNG.
    await page.click("header nav a[href='/console/channels']")
    await page.fill("#new-channel input[name=name]", "上海静安店")
    await page.fill("#new-channel input[name=scene]", "store-42")
    await page.fill("#new-channel input[name=days]", "7")
    await page.click("#new-channel button[type=submit]")
    await page.wait_for_url(f"{base}/console/channels?notice=channel_created")
    assert words["created"] in await page.inner_text(".notice")
    assert "store-42" in await page.inner_text("#channels")
    png = await page.request.get(base + str(await page.get_attribute("#channels a[download]", "href")))
    assert png.status == 200 and (await png.body()).startswith(b"\x89PNG")
    await readable()
    await page.screenshot(path=str(shot(f"channels-{locale}")), full_page=True)

    # The reports draw their charts on the server: SVG in the page, no script.
    await page.click("header nav a[href='/console/reports']")
    assert words["reports"] in await page.inner_text("h1")
    assert await page.locator("#journey-reports svg.chart").count() == 1
    assert await page.locator("script").count() == 0
    await readable()
    await page.screenshot(path=str(shot(f"reports-{locale}")), full_page=True)
    assert failures == []
    await context.close()
