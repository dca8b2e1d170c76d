"""In a real headless Chromium: a simulated follower clicks a tracked link in a pushed message."""

from __future__ import annotations

import asyncio
import shutil
import socket
from typing import Any

import pytest
from sqlmodel import select

from base.clock import FakeClock
from base.settings import Settings
from content.fields import empty_context
from content.templates import parse_body, render_body
from identity.consent import record_consent
from sandbox.fake_wechat import FakeWeChat
from scrm.app import Sandbox, build_services, build_web_app
from storage.db import Database
from storage.models.core import Follower
from tests.journeys.helpers import add_template
from tests.links.conftest import IN_WECHAT, clicks

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _followed(db: Database) -> Follower:
    """The follower the page's follow created, once its callback is through (the page does not wait)."""
    for _ in range(200):
        async with db.session() as session:
            found = (await session.exec(select(Follower))).first()
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("the follow never reached the gateway")


async def test_a_simulated_follower_clicks_a_tracked_link(
    aiohttp_server: Any, db: Database, settings: Settings, clock: FakeClock
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed")
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = settings.with_overrides(wechat_api_base=f"{origin}/fake-wechat", public_url=origin)
    services = build_services(settings, db, clock)
    assert services.link_tracker is not None and services.wechat_api is not None
    services.link_tracker.authorize_every_browser = True  # as `scrm demo` does: the fake plays WeChat
    fake = FakeWeChat(clock=clock)
    app = build_web_app(services, sandbox=Sandbox(fake, origin), scheduler=False)
    await aiohttp_server(app, host="127.0.0.1", port=port)
    # A local page stands for the shop, so the test needs no network.
    target = f"{origin}/healthz"
    body = {"kind": "text", "purpose": "marketing", "links": [target], "content": f"新品试用：{target}"}
    version_id, _kind, _purpose = await add_template(db, clock, "trial", body)
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            # WeChat's browser, as the simulator stands for it (a headless user agent counts as a crawler).
            page = await browser.new_page(user_agent=IN_WECHAT)
            page.set_default_timeout(15_000)
            await page.goto(f"{origin}/sandbox/")
            await page.fill("input[name=label]", "读者")
            await page.click("#create-follower button[type=submit]")
            await page.click("button[data-action=follow]")
            follower = await _followed(db)
            assert follower.id is not None
            async with db.transaction() as session:
                await record_consent(session, follower.id, granted=True, at=clock.now(), text_shown="好", source="test")
            message = render_body(parse_body(body), empty_context())
            parsed = parse_body(body)
            tracked = services.link_tracker.track(
                message, parsed, kind="p", delivery_id=41, follower_id=follower.id, version_id=version_id
            )
            await services.wechat_api.send_custom_message(
                settings.wechat_appid, tracked.customer_service(follower.openid)
            )
            link = page.locator("#chat a.tracked-link")
            await link.wait_for()
            async with page.context.expect_page() as opened:
                await link.click()
            shop = await opened.value
            # The browser keeps the authorization URL's #wechat_redirect across the redirects, as WeChat's does.
            await shop.wait_for_url(f"{target}*")
            assert shop.url.split("#")[0] == target
        finally:
            await browser.close()
            await services.wechat_api.close()
    [row] = await clicks(db)
    assert (row.follower_id, row.via, row.delivery_id, row.target) == (follower.id, "authorized", 41, target)
