"""The follower simulator: a page where a person plays a WeChat follower against the running gateway.

Each action (follow, unfollow, scan a channel QR code, send text, click a menu key) becomes a real
signed callback POSTed over HTTP to the gateway, so the whole product path runs. The chat shows the
gateway's replies and the pushes the fake WeChat API recorded for that openid.

Wiring (the application does this once):

    fake = FakeWeChat()
    fake.mount(app, "/fake-wechat", public_origin="http://127.0.0.1:8080")
    add_sandbox_routes(
        app,
        gateway_url="/wechat",                      # a path on this same server, or an absolute URL
        account=SandboxAccount.from_settings(settings),
        fake=fake,
        sms_outbox=services.sms_outbox,
    )
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from base.clock import CHINA, Clock, SystemClock, real_clock
from base.i18n import N_, _
from sandbox.callbacks import MODES, OPENID_PATTERN, MalformedReply, Mode, SandboxAccount, decode_reply, sign_callback
from sandbox.chat import (
    SERVICE_UNAVAILABLE,
    ChatBook,
    ChatEntry,
    Text,
    describe_push,
    describe_reply,
    merged_chat,
    new_openid,
    phrase,
)
from sandbox.fake_wechat import FakeWeChat
from sandbox.follower_actions import ACTIONS, ActionError, FollowerAction
from sandbox.links import add_link_opener
from sandbox.menu_row import MenuSource, menu_row
from sandbox.page import choose_language, page_routes

log = logging.getLogger("sandbox.simulator")

# WeChat gives up on a callback after 5 seconds (then retries); the simulator waits a little longer
# so it can tell the person the answer was late rather than just failing.
WECHAT_DEADLINE = 5.0
CALLBACK_TIMEOUT = 15.0


class SmsOutbox(Protocol):
    """What the identity feature's sandbox SMS sender offers (`services.sms_outbox`)."""

    def recent(self, limit: int = 10) -> Any:
        """The newest messages first: dicts with `to`, `text`, `at` (may be awaitable)."""
        ...


class ClockControl(Protocol):
    """The demo clock as the page controls it (`scrm.demo_clock.SharedDemoClock`)."""

    def state(self) -> dict[str, Any]:
        """Demo time and speed, as JSON."""
        ...

    async def advance(self, seconds: float) -> Any:
        """Move demo time `seconds` ahead."""
        ...


# "Advance one day" and its bigger siblings; more than this at once is surely a typo.
MAX_ADVANCE_DAYS = 30


class Simulator:
    """Sends the simulated followers' callbacks and keeps their chats."""

    def __init__(
        self,
        *,
        gateway_url: str,
        account: SandboxAccount,
        fake: FakeWeChat,
        clock: Clock | None = None,
        sms_outbox: SmsOutbox | None = None,
        clock_control: ClockControl | None = None,
        menu: MenuSource | None = None,
    ) -> None:
        self.gateway_url = gateway_url
        self.menu_source = menu
        self.clock_control = clock_control
        self.account = account
        self.fake = fake
        self.clock: Clock = clock or SystemClock()
        self.sms_outbox = sms_outbox
        self.chats = ChatBook()
        self._session: aiohttp.ClientSession | None = None
        self._msg_ids = int(self.clock.now().timestamp()) * 1000

    def resolve_gateway(self, origin: str) -> str:
        """The callback URL: `gateway_url` as is, or, when it is a path, on the origin the page came from."""
        if self.gateway_url.startswith("/"):
            return origin.rstrip("/") + self.gateway_url
        return self.gateway_url

    def next_msg_id(self) -> int:
        self._msg_ids += 1
        return self._msg_ids

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def perform(self, openid: str, action: FollowerAction, mode: Mode, origin: str) -> list[ChatEntry]:
        """Run one follower action end to end; returns the chat entries it added."""
        follower = self.chats.followers.get(openid)
        if follower is None:
            raise ActionError(404, _("no simulated follower “%(openid)s”: create it first") % {"openid": openid})
        now = self.clock.now()
        step = action.plan(follower, self.account, int(now.timestamp()), self.next_msg_id())
        # Tell the fake API first: a handler answering late through the customer-service API must
        # find the window this very interaction opened.
        step.apply_to_fake(self.fake, self.account.appid)
        follower.subscribed = step.subscribed_after
        entries = [ChatEntry(now, "follower", "you", step.kind, step.caption)]
        entries += await self._deliver(follower.openid, step.xml, mode, origin)
        return [self.chats.add(follower, entry) for entry in entries]

    async def _deliver(self, openid: str, xml: str, mode: Mode, origin: str) -> list[ChatEntry]:
        url = self.resolve_gateway(origin)
        # WeChat signs with the wall clock and the gateway's replay window checks it against the wall
        # clock, so a sped-up demo clock never makes a callback look replayed (CreateTime is demo time).
        signed = sign_callback(self.account, xml, mode, str(int(real_clock(self.clock).now().timestamp())))
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with self._client().post(
                url, params=signed.params, data=signed.body.encode("utf-8"), headers={"Content-Type": "text/xml"}
            ) as response:
                status, body = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("sandbox could not reach the gateway at %s: %s", url, error)
            return [self._note(phrase(N_("could not reach the gateway at %(url)s: %(error)s"), url=url, error=error))]
        elapsed = loop.time() - started
        notes: list[ChatEntry] = []
        if elapsed > WECHAT_DEADLINE:
            late = phrase(N_("the gateway took %(seconds)s s: WeChat would have retried"), seconds=f"{elapsed:.1f}")
            notes.append(self._note(late, shown=False))
        if status != 200:
            return [*notes, self._note(phrase(N_("the gateway answered HTTP %(status)s"), status=status))]
        try:
            reply = decode_reply(self.account, body)
        except MalformedReply as error:
            return [*notes, self._note(str(error))]
        if reply is None:
            return notes
        if reply.get("ToUserName") != openid:
            notes.append(self._note(phrase(N_("the reply is addressed to someone else")), shown=False))
        return [*notes, describe_reply(reply, self.clock.now())]

    def _note(self, problem: Text, *, shown: bool = True) -> ChatEntry:
        """A problem for the person; `shown`: WeChat then shows the follower its "service unavailable"."""
        detail = (phrase(N_("the follower sees: %(text)s"), text=SERVICE_UNAVAILABLE),) if shown else ()
        return ChatEntry(self.clock.now(), "system", "system", "problem", problem, detail)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT))
        return self._session

    def chat(self, openid: str) -> list[dict[str, Any]]:
        """The follower's conversation: own entries, replies and pushes, oldest first."""
        follower = self.chats.followers.get(openid)
        if follower is None:
            raise ActionError(404, _("no simulated follower “%(openid)s”") % {"openid": openid})
        pushes = [describe_push(call, self.fake.news) for call in self.fake.sent_to(openid)]
        return merged_chat(follower, pushes)

    async def menu_buttons(self) -> list[dict[str, str]]:
        """The buttons a follower can tap (sandbox.menu_row)."""
        return await menu_row(self.menu_source, self.fake, self.account.appid)

    async def recent_sms(self, limit: int = 10) -> list[dict[str, str]]:
        """The sandbox SMS outbox (newest first), or nothing when no sandbox SMS sender is configured."""
        if self.sms_outbox is None:
            return []
        found = self.sms_outbox.recent(limit)
        if inspect.isawaitable(found):
            found = await found
        return [
            {
                "to": str(item.get("to", "")),
                "text": str(item.get("text", "")),
                "at": str(item.get("at_china") or item.get("at", "")),
            }
            for item in found
            if isinstance(item, dict)
        ]


SIMULATOR = web.AppKey("sandbox.simulator", Simulator)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ActionError(400, _("the request body must be JSON")) from None
    if not isinstance(body, dict):
        raise ActionError(400, _("the request body must be a JSON object"))
    return body


def _guarded(handler: Handler) -> Handler:
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ActionError as error:
            return _error(error.status, error.message)

    return run


async def _state(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    account = simulator.account
    return web.json_response(
        {
            "account": {"appid": account.appid, "username": account.username, "modes": list(account.modes)},
            "default_mode": account.default_mode,
            "followers": [f.to_json() for f in simulator.chats.followers.values()],
            "menu": await simulator.menu_buttons(),
            "sms": await simulator.recent_sms(),
            "actions": sorted(ACTIONS),
            "clock": _clock_state(simulator),
        }
    )


def _clock_state(simulator: Simulator) -> dict[str, Any]:
    if simulator.clock_control is not None:
        return simulator.clock_control.state()
    now = simulator.clock.now()
    china = now.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
    return {"now": now.isoformat(), "now_china": china, "speed": 1.0, "takes_effect_in": 0.0}


async def _clock(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    return web.json_response({**_clock_state(simulator), "controllable": simulator.clock_control is not None})


async def _advance_clock(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    if simulator.clock_control is None:
        raise ActionError(409, _("this sandbox runs on the real clock: start it with `scrm demo` to move time"))
    body = await _json_body(request)
    days = body.get("days", 1)
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= MAX_ADVANCE_DAYS:
        raise ActionError(400, _("days must be a number above 0 and at most %(max)d") % {"max": MAX_ADVANCE_DAYS})
    await simulator.clock_control.advance(float(days) * 86_400)
    return web.json_response(_clock_state(simulator))


async def _create_follower(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    body = await _json_body(request)
    openid = str(body.get("openid") or "").strip() or new_openid()
    if not OPENID_PATTERN.match(openid):
        raise ActionError(400, _("an openid is 1-64 letters, digits, '-' or '_'"))
    label = str(body.get("label") or "").strip()[:40]
    follower = simulator.chats.create(openid, label, simulator.clock.now())
    return web.json_response(follower.to_json(), status=201)


async def _act(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    body = await _json_body(request)
    name = str(body.get("action", ""))
    if name not in ACTIONS:
        choices = ", ".join(sorted(ACTIONS))
        raise ActionError(
            400, _("unknown action “%(action)s”: use one of %(choices)s") % {"action": name, "choices": choices}
        )
    mode = str(body.get("mode") or simulator.account.default_mode)
    if mode not in simulator.account.modes:
        choices = ", ".join(simulator.account.modes)
        raise ActionError(
            400, _("mode “%(mode)s” is not possible here: use one of %(choices)s") % {"mode": mode, "choices": choices}
        )
    action = ACTIONS[name].from_json(body)
    entries = await simulator.perform(request.match_info["openid"], action, _mode(mode), str(request.url.origin()))
    return web.json_response({"entries": [entry.to_json() for entry in entries]})


def _mode(value: str) -> Mode:
    for mode in MODES:
        if mode == value:
            return mode
    raise ActionError(400, _("unknown mode “%(mode)s”") % {"mode": value})


async def _chat(request: web.Request) -> web.Response:
    simulator = request.app[SIMULATOR]
    openid = request.match_info["openid"]
    return web.json_response({"entries": simulator.chat(openid), "sms": await simulator.recent_sms()})


def build_sandbox_app(
    *,
    gateway_url: str,
    account: SandboxAccount,
    fake: FakeWeChat,
    clock: Clock | None = None,
    sms_outbox: SmsOutbox | None = None,
    clock_control: ClockControl | None = None,
    history: Callable[[Simulator], Awaitable[object]] | None = None,
    menu: MenuSource | None = None,
) -> web.Application:
    """The simulator as an application to mount with `app.add_subapp("/sandbox", ...)`.

    `gateway_url` is where callbacks go: an absolute URL, or a path ("/wechat") on the server that
    serves the page. `account` signs them (see SandboxAccount.from_settings); `fake` is the FakeWeChat
    the gateway's API client talks to, whose recorded sends become the chat's pushes; `sms_outbox` is
    `services.sms_outbox` (optional); `menu` reads the published custom menu (the menu row draws it).
    `history`, when given, runs once at start-up to bring back the
    followers and chats a previous run left (sandbox.restore.restore_chats on the demo's database).
    """
    simulator = Simulator(
        gateway_url=gateway_url,
        account=account,
        fake=fake,
        clock=clock,
        sms_outbox=sms_outbox,
        clock_control=clock_control,
        menu=menu,
    )
    app = web.Application(middlewares=[choose_language])
    app[SIMULATOR] = simulator
    app.router.add_routes(page_routes(account))
    app.router.add_get("/api/state", _guarded(_state))
    app.router.add_post("/api/followers", _guarded(_create_follower))
    app.router.add_post("/api/followers/{openid}/actions", _guarded(_act))
    app.router.add_get("/api/followers/{openid}/chat", _guarded(_chat))
    app.router.add_get("/api/clock", _guarded(_clock))
    app.router.add_post("/api/clock/advance", _guarded(_advance_clock))
    add_link_opener(app)

    async def close(_app: web.Application) -> None:
        await simulator.close()

    async def restore(_app: web.Application) -> None:
        if history is not None:
            await history(simulator)

    app.on_startup.append(restore)
    app.on_cleanup.append(close)
    return app


def add_sandbox_routes(
    app: web.Application,
    *,
    gateway_url: str,
    account: SandboxAccount,
    fake: FakeWeChat,
    clock: Clock | None = None,
    sms_outbox: SmsOutbox | None = None,
    clock_control: ClockControl | None = None,
    history: Callable[[Simulator], Awaitable[object]] | None = None,
    menu: MenuSource | None = None,
    prefix: str = "/sandbox",
) -> Simulator:
    """Mount the simulator under `prefix` of `app` (see build_sandbox_app); returns it for inspection."""
    sandbox = build_sandbox_app(
        gateway_url=gateway_url,
        account=account,
        fake=fake,
        clock=clock,
        sms_outbox=sms_outbox,
        clock_control=clock_control,
        history=history,
        menu=menu,
    )

    async def to_page(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(prefix + "/")

    # The page uses relative links, so it must be served with the trailing slash.
    app.router.add_get(prefix, to_page)
    app.add_subapp(prefix, sandbox)
    return sandbox[SIMULATOR]


__all__ = ["SIMULATOR", "ClockControl", "Simulator", "SmsOutbox", "add_sandbox_routes", "build_sandbox_app"]
