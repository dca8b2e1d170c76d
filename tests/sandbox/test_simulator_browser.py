"""The simulator page in a real headless Chromium: a person creates a follower, follows, chats, sees a push."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from base.clock import CHINA, DemoClock, FakeClock
from base.settings import Settings
from sandbox.fake_wechat import FakeWeChat
from scrm.app import Sandbox as DemoSandbox
from scrm.app import build_services, build_web_app
from scrm.demo_clock import SharedDemoClock
from storage.db import Database
from tests.sandbox.conftest import APPID, Sandbox
from wechat.api import WeChatAPI

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def test_a_person_chats_as_a_follower(
    sandbox: Sandbox, settings: Settings, db: Database, clock: FakeClock
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed")
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await page.goto(str(sandbox.client.make_url("/sandbox/")))
            await page.fill("input[name=label]", "<img src=x onerror=alert(1)>")
            await page.click("#create-follower button[type=submit]")
            await page.click("button[data-action=follow]")
            chat = page.locator("#chat")
            await chat.get_by_text("欢迎关注!").wait_for()
            await page.fill("#text", "<b>hi</b>")
            await page.press("#text", "Enter")
            await chat.get_by_text("echo: <b>hi</b>").wait_for()  # shown as text, not markup
            assert await page.locator("#chat b, #followers img").count() == 0
            openid = next(iter(sandbox.simulator.chats.followers))
            base = settings.with_overrides(wechat_api_base=sandbox.fake.base_url, wechat_appid=APPID)
            async with WeChatAPI(base, db, clock) as api:
                payload = {"touser": openid, "msgtype": "text", "text": {"content": "限时优惠 8 折"}}
                await api.send_custom_message(APPID, payload)
            await chat.get_by_text("限时优惠 8 折").wait_for()  # the poll brings the push in
        finally:
            await browser.close()


async def test_a_person_moves_the_demo_clock_a_day_ahead(
    aiohttp_client: Callable[..., Any], db: Database, settings: Settings
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed")
    clock = DemoClock(speed=60)
    services = build_services(settings, db, clock)
    control = SharedDemoClock(db, clock)
    app = build_web_app(
        services, sandbox=DemoSandbox(FakeWeChat(clock=clock), "http://127.0.0.1:9", control), scheduler=False
    )
    client = await aiohttp_client(app)
    today = clock.now().astimezone(CHINA).date()
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await page.goto(str(client.make_url("/sandbox/")))
            shown = page.locator("#clock-now")
            await page.get_by_text("60x real speed").wait_for()
            assert (await shown.text_content() or "").startswith(today.isoformat())
            await page.click("#advance-day")
            tomorrow = (today + timedelta(days=1)).isoformat()
            await page.wait_for_function(
                "day => document.querySelector('#clock-now').textContent.startsWith(day)", arg=tomorrow
            )
        finally:
            await browser.close()


@pytest.mark.parametrize(
    ("browser_locale", "lang", "words"),
    [
        ("zh-CN", "zh-CN", ("粉丝模拟器", "暂无粉丝：请在下方新建。", "关注了公众号")),
        (
            "en-US",
            "en",
            ("Follower simulator", "No follower yet: create one below.", "followed the account"),
        ),
    ],
)
async def test_the_simulator_page_speaks_the_browsers_language(
    sandbox: Sandbox, browser_locale: str, lang: str, words: tuple[str, str, str]
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed")
    title, empty, followed = words
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = await browser.new_context(locale=browser_locale)
            page = await context.new_page()
            failures: list[str] = []
            page.on("response", lambda got: failures.append(got.url) if got.status >= 400 else None)
            await page.goto(str(sandbox.client.make_url("/sandbox/")))
            assert await page.get_attribute("html", "lang") == lang
            assert await page.inner_text("h1") == title
            await page.get_by_text(empty).wait_for()
            await page.click("#create-follower button[type=submit]")
            await page.click("button[data-action=follow]")
            chat = page.locator("#chat")
            await chat.get_by_text(followed, exact=True).wait_for()
            await chat.get_by_text("欢迎关注!").wait_for()  # the account's own words, as it wrote them
            # The other language is one click away, and stays chosen.
            other = "en" if lang == "zh-CN" else "zh_CN"
            await page.click(f".languages a[href='?lang={other}']")
            await page.wait_for_selector(f"html[lang={other.replace('_', '-')}]")
            assert failures == []
        finally:
            await browser.close()
