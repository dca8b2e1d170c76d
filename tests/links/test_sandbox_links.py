"""The sandbox opens tracked links as the simulated follower; its fake WeChat authorizes like WeChat."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from sandbox.fake_oauth import OPENID_COOKIE
from sandbox.fake_wechat import FakeWeChat
from sandbox.links import add_link_opener
from tests.links.conftest import ClientFactory

TOKEN = "A" * 44


async def test_the_opener_remembers_the_follower_and_opens_only_tracked_links(aiohttp_client: ClientFactory) -> None:
    app = web.Application()
    add_link_opener(app)
    client = await aiohttp_client(app)
    answer = await client.get("/open", params={"openid": "o-sim-1", "url": f"/l/{TOKEN}"}, allow_redirects=False)
    assert (answer.status, answer.headers["Location"]) == (302, f"/l/{TOKEN}")
    assert answer.cookies[OPENID_COOKIE].value == "o-sim-1"
    own = f"http://{client.host}:{client.port}/l/{TOKEN}"
    assert (await client.get("/open", params={"openid": "o1", "url": own}, allow_redirects=False)).status == 302
    for url in ("https://evil.example/l/" + TOKEN, "/elsewhere", f"//evil.example/l/{TOKEN}", "javascript:alert(1)"):
        refused = await client.get("/open", params={"openid": "o1", "url": url}, allow_redirects=False)
        assert refused.status == 400, url
    assert (await client.get("/open", params={"openid": "o 1<", "url": f"/l/{TOKEN}"})).status == 400


async def _authorize(fake: FakeWeChat, client: Any, cookies: dict[str, str]) -> str:
    params = {
        "appid": "wx1234567890abcdef",
        "redirect_uri": "https://scrm.example/l/x",
        "response_type": "code",
        "scope": "snsapi_base",
        "state": "l",
    }
    async with client.get(
        f"{fake.base_url}/connect/oauth2/authorize", params=params, cookies=cookies, allow_redirects=False
    ) as answer:
        assert answer.status == 302
        back = urlsplit(answer.headers["Location"])
    assert back.path == "/l/x"
    return str(parse_qs(back.query)["code"][0])


async def test_the_fake_web_authorization_tells_who_the_browser_is_once(fake: FakeWeChat) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as client:
        code = await _authorize(fake, client, {OPENID_COOKIE: "o-sim-2"})
        exchange = {"appid": "wx1234567890abcdef", "secret": "s", "code": code, "grant_type": "authorization_code"}
        async with client.get(f"{fake.base_url}/sns/oauth2/access_token", params=exchange) as answer:
            assert (await answer.json())["openid"] == "o-sim-2"
        async with client.get(f"{fake.base_url}/sns/oauth2/access_token", params=exchange) as answer:
            assert (await answer.json())["errcode"] == 40029  # a code works once
        stranger = await _authorize(fake, client, {})
        async with client.get(
            f"{fake.base_url}/sns/oauth2/access_token", params={**exchange, "code": stranger}
        ) as answer:
            assert (await answer.json())["openid"].startswith("o_stranger_")
