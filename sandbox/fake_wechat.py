"""`FakeWeChat`: an in-process aiohttp server that answers like WeChat's server API.

    async with FakeWeChat(accounts={"wx...": "secret"}) as fake:
        settings = settings.with_overrides(wechat_api_base=fake.base_url)
        ...
        assert fake.sent_to("openid-1")

It checks the access token on every call (40001 wrong, 42001 expired), records every call in
`fake.calls`, lets tests inject errors (`fake.fail("message/custom/send", errcode=45015)`) and latency,
and can enforce the customer-service window rules (`fake.enforce_windows = True`). `scrm demo` mounts
it into the running app instead: `fake.mount(app, "/fake-wechat")`, then points WECHAT_API_BASE there.

Benchmarks run it as a process of its own, so it does not share the measured process's core:
`python -m sandbox.fake_wechat --port 0` prints its base URL on the first line and serves until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from aiohttp import web

from base.clock import Clock
from sandbox.fake_endpoints import Answer, FakeCall, FakeEndpoints
from sandbox.fake_oauth import FakeWebAuth
from sandbox.fake_state import FailureBook, FakeAPIError, FakeFollower, InjectedFailure, RecordedCall

SEND_APIS = frozenset(
    {
        "message/custom/send",
        "message/template/send",
        "message/subscribe/bizsend",
        "message/mass/send",
        "message/mass/sendall",
    }
)
_TOKEN_APIS = frozenset({"token", "stable_token"})


def _api_name(api: str) -> str:
    return api.removeprefix("/").removeprefix("cgi-bin/")


class FakeWeChat(FakeEndpoints):
    """A fake of WeChat's server API for tests, benchmarks and the sandbox: served, observed, steerable."""

    def __init__(
        self,
        accounts: Mapping[str, str] | None = None,
        *,
        clock: Clock | None = None,
        journal: Path | None = None,
        sibling_key: bytes | None = None,
    ) -> None:
        """`accounts` maps appid -> appsecret; None accepts any appid with any non-empty secret. With
        `journal`, every answered call is also appended to that file as one JSON line (processes of one
        demo share it: each line is one write to a file opened for appending)."""
        super().__init__(accounts, clock=clock, sibling_key=sibling_key)
        self._journal: TextIO | None = journal.open("a", encoding="utf-8", buffering=1) if journal else None
        self.failures = FailureBook()
        self.calls: list[RecordedCall] = []
        self.latency = 0.0
        self._api_latency: dict[str, float] = {}
        self._by_openid: dict[str, list[RecordedCall]] = defaultdict(list)
        self._base_url = ""
        self._runner: web.AppRunner | None = None
        self._endpoints = self.routes()
        self.app = web.Application()
        self.app.router.add_route("*", "/cgi-bin/{api:.+}", self._handle)
        # Web authorization (snsapi_base), which tracked links ask in WeChat's browser.
        self.web_auth = FakeWebAuth(self.clock, self._check_secret)
        self.web_auth.install(self.app)

    # --- Lifecycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeWeChat:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on `host` (a free port by default); returns the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self._base_url = f"http://{bound_host}:{bound_port}"
        return self._base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def mount(self, app: web.Application, prefix: str = "/fake-wechat", *, public_origin: str = "") -> None:
        """Serve inside another (not yet started) app under `prefix`; base_url = public_origin + prefix."""
        app.add_subapp(prefix, self.app)
        self._base_url = public_origin.rstrip("/") + prefix

    @property
    def base_url(self) -> str:
        """What WECHAT_API_BASE must be set to."""
        if not self._base_url:
            raise RuntimeError("FakeWeChat is neither started nor mounted")
        return self._base_url

    # --- Test controls ---------------------------------------------------------------------------------

    def fail(
        self, api: str, errcode: int, *, times: int | None = 1, openid: str | None = None, errmsg: str = ""
    ) -> None:
        """Answer the next `times` calls of `api` (for `openid` only, if given) with `errcode`."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1, or None for every call until clear_failures()")
        name = _api_name(api)
        if name not in self._endpoints:
            raise ValueError(f"the fake does not serve {api!r}")
        self.failures.add(InjectedFailure(name, errcode, errmsg or f"injected error {errcode}", times, openid))

    def clear_failures(self) -> None:
        self.failures.pending.clear()

    def set_latency(self, seconds: float, api: str | None = None) -> None:
        """Delay every answer (or only those of `api`) by `seconds` of real time."""
        if api is None:
            self.latency = seconds
        else:
            self._api_latency[_api_name(api)] = seconds

    def add_account(self, appid: str, appsecret: str) -> None:
        if self.accounts is None:
            self.accounts = {}
        self.accounts[appid] = appsecret

    def add_follower(
        self,
        openid: str,
        *,
        appid: str | None = None,
        subscribed: bool = True,
        unionid: str | None = None,
        scene: str | None = None,
    ) -> FakeFollower:
        """Register (or update) a follower for user/info, mass sends and the 43004 "not following" rule."""
        follower = self.followers.get(openid) or FakeFollower(openid, appid)
        follower.subscribed = subscribed
        follower.unionid = unionid or follower.unionid
        follower.scene = scene or follower.scene
        if subscribed and not follower.subscribe_time:
            follower.subscribe_time = int(self.clock.now().timestamp())
        self.followers[openid] = follower
        return follower

    def record_interaction(self, openid: str, kind: str) -> None:
        """The follower sent a message (`"message"`) or followed/clicked/scanned (`"event"`) just now."""
        self.windows.interaction(openid, kind, self.clock.now())

    def issue_token(self, appid: str) -> str:
        """A valid token without an HTTP round trip (benchmarks that call the fake directly)."""
        return self.tokens.issue(appid)

    def revoke_tokens(self, appid: str | None = None) -> int:
        """Invalidate every issued token (of `appid`): the next API calls answer 40001."""
        return self.tokens.revoke(appid)

    # --- Queries ---------------------------------------------------------------------------------------

    def calls_to(self, api: str) -> list[RecordedCall]:
        name = _api_name(api)
        return [call for call in self.calls if call.api == name]

    @property
    def token_fetches(self) -> list[RecordedCall]:
        """Calls of the token endpoints (what WeChat's daily fetch limit counts)."""
        return [call for call in self.calls if call.api in _TOKEN_APIS]

    def sent_to(self, openid: str, *, include_failed: bool = False) -> list[RecordedCall]:
        """Sends (custom, template, subscription, mass) that reached `openid`, oldest first."""
        return [call for call in self._by_openid.get(openid, ()) if include_failed or call.ok]

    def close_journal(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def reset(self) -> None:
        """Forget recorded calls and injected failures (tokens, followers and menus stay)."""
        self.calls.clear()
        self._by_openid.clear()
        self.clear_failures()

    # --- HTTP ------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        name = request.match_info["api"]
        route = self._endpoints.get(name)
        if route is None:
            return web.Response(status=404, text=f"no such API: {name}")
        delay = self._api_latency.get(name, self.latency)
        if delay:
            await asyncio.sleep(delay)
        params = {key: value for key, value in request.query.items() if key != "access_token"}
        call = FakeCall(name, params, None)
        try:
            method, endpoint = route
            if request.method != method:
                raise FakeAPIError(43001 if method == "GET" else 43002, f"require {method} method")
            call.body = await _read_json(request) if method == "POST" else None
            try:
                if name not in _TOKEN_APIS:
                    call.appid = self.tokens.check(request.query.get("access_token", ""))
            finally:
                # Known even when the token is refused, so tests can see the attempt per openid.
                call.recipients = self._recipients(call)
            injected = self.failures.take(name, call.recipients)
            if injected is not None:
                raise FakeAPIError(injected.errcode, injected.errmsg)
            answer = await endpoint(call)
        except FakeAPIError as error:
            answer = {"errcode": error.errcode, "errmsg": error.errmsg}
        self._record(call, answer)
        return web.json_response(answer)

    def _record(self, call: FakeCall, answer: Answer) -> None:
        recorded = RecordedCall(
            api=call.api,
            json=call.body,
            params=call.params,
            at=self.clock.now(),
            appid=call.appid,
            errcode=int(answer.get("errcode", 0)),
            recipients=call.recipients,
            answer=answer,
        )
        self.calls.append(recorded)
        if self._journal is not None:
            # A line of a few hundred bytes to the page cache: no slower than the logging beside it.
            self._journal.write(_journal_line(recorded) + "\n")
        for openid in recorded.recipients:
            self._by_openid[openid].append(recorded)

    def _recipients(self, call: FakeCall) -> tuple[str, ...]:
        if call.api not in SEND_APIS:
            return ()
        if call.api == "message/mass/sendall":
            audience = call.field("filter") or {}
            tag = audience.get("tag_id") if isinstance(audience, dict) else None
            everyone = isinstance(audience, dict) and bool(audience.get("is_to_all"))
            return tuple(
                f.openid
                for f in self.followers.values()
                if f.subscribed and f.appid in (None, call.appid) and (everyone or tag in f.tags)
            )
        touser = call.field("touser")
        if isinstance(touser, list):
            return tuple(str(openid) for openid in touser)
        return (touser,) if isinstance(touser, str) and touser else ()


def _journal_line(call: RecordedCall) -> str:
    return json.dumps(
        {
            "api": call.api,
            "at": call.at.isoformat(),
            "appid": call.appid,
            "errcode": call.errcode,
            "recipients": list(call.recipients),
            "json": call.json,
            "pid": os.getpid(),
        },
        ensure_ascii=False,
        default=str,
    )


async def _read_json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        document = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FakeAPIError(47001, "data format error: body is not JSON") from None
    if not isinstance(document, dict):
        raise FakeAPIError(47001, "data format error: body is not a JSON object")
    return document


async def serve_forever(host: str, port: int) -> None:
    """Serve a FakeWeChat accepting any account; print its base URL; stop on SIGTERM or SIGINT."""
    fake = FakeWeChat()
    print(await fake.start(host, port), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fake WeChat API (any appid, any non-empty secret).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    asyncio.run(serve_forever(args.host, args.port))


if __name__ == "__main__":
    main()
