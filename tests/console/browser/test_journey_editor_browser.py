"""In headless Chromium, in both languages: an editor builds a journey in the console and publishes it,
then a follower of the sandbox follows the account and receives the journey's push."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from identity.consent import record_consent
from journeys.adapters import ContentRenderer, WeChatSender
from journeys.dispatcher import DispatcherConfig, PushDispatcher
from journeys.enrolment import Enrolment
from journeys.policy import DispatchPolicy
from sandbox.fake_wechat import FakeWeChat
from scrm.app import Sandbox, build_services, build_web_app
from storage.console import create_user
from storage.db import Database
from storage.models.core import Follower
from tests.console.browser.conftest import CHROMIUM, CHROMIUM_ARGS, shot
from tests.console.conftest import EDITOR_PASSWORD, _hash
from tests.journeys.helpers import add_template

pytestmark = pytest.mark.browser

BROWSER_LOCALE = {"zh_CN": "zh-CN", "en": "en-US"}
PUBLISHED = {"zh_CN": "已发布", "en": "Published"}
PUSH_TEXT = "欢迎加入茶语会员，回复「TD」退订营销消息。"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _followed(db: Database) -> Follower:
    for _ in range(200):
        async with db.session() as session:
            found = (await session.exec(select(Follower))).first()
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the follow never reached the gateway")


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
async def test_an_editor_publishes_a_journey_and_a_sandbox_follower_receives_it(
    locale: str, aiohttp_server: Any, db: Database, settings: Settings, clock: FakeClock
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed")
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = settings.with_overrides(wechat_api_base=f"{origin}/fake-wechat", public_url=origin, demo=True)
    services = build_services(settings, db, clock)
    assert services.wechat_api is not None
    app = build_web_app(services, sandbox=Sandbox(FakeWeChat(clock=clock), origin), scheduler=False)
    await aiohttp_server(app, host="127.0.0.1", port=port)
    await add_template(db, clock, "member_welcome", {"kind": "text", "purpose": "marketing", "content": PUSH_TEXT})
    async with db.transaction() as session:
        await create_user(
            session, name="eddie", role="editor", password_hash=_hash(EDITOR_PASSWORD), now=clock.now(), locale=locale
        )
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(locale=BROWSER_LOCALE[locale], viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            page.set_default_timeout(15_000)
            await page.goto(f"{origin}/console/")
            await page.fill("input[name=name]", "eddie")
            await page.fill("input[name=password]", EDITOR_PASSWORD)
            await page.click("form.login-card button[type=submit]")
            await page.wait_for_url(f"{origin}/console/")

            await page.goto(f"{origin}/console/journeys")
            await page.click("#journey-new")
            await page.fill("input[name=name]", "member_welcome_journey")
            await page.fill("input[name=title]", "会员欢迎")
            await page.select_option("select[name='trigger.kind']", "followed")
            await page.fill("input[name='s0.id']", "hello")
            await page.select_option("select[name='s0.type']", "send")
            # Only the fields of a send step are shown once its type is chosen.
            assert await page.is_visible("input[name='s0.template']")
            assert not await page.is_visible("input[name='s0.duration']")
            await page.fill("input[name='s0.template']", "no_such_template")
            await page.click("#journey-publish")
            error = page.locator("[data-field='s0.template']")
            assert "no_such_template" in await error.inner_text()  # shown next to the field
            await page.fill("input[name='s0.template']", "member_welcome")
            # The preview follows the form as it is typed (no button pressed).
            await page.locator("#journey-preview").get_by_text("[member_welcome]").wait_for()
            await page.click("#journey-publish")
            await page.wait_for_url(f"{origin}/console/journeys/*")
            assert PUBLISHED[locale] in await page.inner_text("body")
            await page.screenshot(path=str(shot(f"journey-published-{locale}")), full_page=True)

            sandbox = await context.new_page()
            sandbox.set_default_timeout(15_000)
            await sandbox.goto(f"{origin}/sandbox/")
            await sandbox.fill("input[name=label]", "小林")
            await sandbox.click("#create-follower button[type=submit]")
            await sandbox.click("button[data-action=follow]")
            follower = await _followed(db)
            assert follower.id is not None
            async with db.transaction() as session:
                await record_consent(session, follower.id, granted=True, at=clock.now(), text_shown="好", source="test")
            # The scheduler's two jobs, run once: enrolment on the follow, then the outbox.
            policy = DispatchPolicy.from_settings(settings)
            for _ in range(100):
                if (await Enrolment(db, clock, policy).drain_events()).enrolled:
                    break
                await asyncio.sleep(0.05)
            dispatcher = PushDispatcher(
                db, WeChatSender(services.wechat_api), ContentRenderer(db, clock, links=services.link_tracker),
                clock, policy, DispatcherConfig(),
            )  # fmt: skip
            await dispatcher.drain()
            await sandbox.locator("#chat").get_by_text(PUSH_TEXT).wait_for()
        finally:
            await browser.close()
            await services.wechat_api.close()
