"""The state behind the fake WeChat API: issued tokens, followers, windows, injected failures, the call log.

Kept apart from the HTTP layer (fake_wechat.py) so the rules read as plain Python.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from base.clock import Clock, start_of_china_day
from content.send_rules import EVENT_WINDOW, MESSAGE_WINDOW, WindowState, custom_send_verdict

# WeChat's documented numbers for the token endpoints.
TOKEN_LIFETIME = timedelta(seconds=7200)
# The stable endpoint keeps returning the current token until this close to its expiry.
STABLE_REISSUE_WINDOW = timedelta(minutes=5)
# A classic fetch leaves the previous token valid for this long.
CLASSIC_OVERLAP = timedelta(minutes=5)
FORCE_REFRESH_PER_DAY = 20
FORCE_REFRESH_SPACING = timedelta(seconds=30)


class FakeAPIError(Exception):
    """Answer the current call with this errcode (the HTTP layer turns it into WeChat's JSON)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode} {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake answered."""

    api: str  # "message/custom/send", "stable_token", ...
    json: dict[str, Any] | None
    params: dict[str, str]  # the query string without the access token
    at: datetime
    appid: str | None
    errcode: int
    # The openids a send reached (or would have, when it failed); empty for non-send APIs.
    recipients: tuple[str, ...] = ()
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return "/cgi-bin/" + self.api

    @property
    def timestamp(self) -> float:
        return self.at.timestamp()

    @property
    def ok(self) -> bool:
        return self.errcode == 0


@dataclass
class IssuedToken:
    appid: str
    expires_at: datetime
    revoked: bool = False


class TokenBook:
    """Tokens the fake handed out, with the stable and classic endpoints' rules."""

    def __init__(self, clock: Clock, lifetime: timedelta = TOKEN_LIFETIME, sibling_key: bytes | None = None) -> None:
        """With `sibling_key`, tokens carry their appid and expiry under that key, and a token another
        book of the same key issued is good here until it expires: the processes of one demo each serve
        the fake, and the product's processes share one token, as with WeChat."""
        self.clock = clock
        self.lifetime = lifetime
        self._sibling_key = sibling_key
        self.tokens: dict[str, IssuedToken] = {}
        self._stable: dict[str, str] = {}
        self._classic: dict[str, list[str]] = defaultdict(list)
        self._forced: dict[str, list[datetime]] = defaultdict(list)

    def issue(self, appid: str) -> str:
        expires_at = self.clock.now() + self.lifetime
        token = "FAKE_" + secrets.token_urlsafe(24)
        if self._sibling_key is not None:
            claim = f"{appid}.{int(expires_at.timestamp())}.{token}"
            token = f"{claim}.{self._seal(claim)}"
        self.tokens[token] = IssuedToken(appid, expires_at)
        return token

    def _seal(self, claim: str) -> str:
        assert self._sibling_key is not None
        return hmac.new(self._sibling_key, claim.encode(), hashlib.sha256).hexdigest()[:32]

    def _sibling_issued(self, token: str) -> IssuedToken | None:
        """The token, if a book of the same key issued it (never revoked here: revocation is per book)."""
        if self._sibling_key is None:
            return None
        claim, _, seal = token.rpartition(".")
        appid, _, rest = claim.partition(".")
        expiry = rest.partition(".")[0]
        if not (claim and expiry.isdigit() and hmac.compare_digest(seal, self._seal(claim))):
            return None
        return IssuedToken(appid, datetime.fromtimestamp(int(expiry), self.clock.now().tzinfo))

    def remaining(self, token: str) -> int:
        return max(0, int((self.tokens[token].expires_at - self.clock.now()).total_seconds()))

    def stable(self, appid: str, force_refresh: bool) -> str:
        now = self.clock.now()
        current = self._stable.get(appid)
        if force_refresh:
            recent = [t for t in self._forced[appid] if t >= start_of_china_day(now)]
            if recent and now - recent[-1] < FORCE_REFRESH_SPACING:
                raise FakeAPIError(45011, "api minute-quota reach limit: force refresh 30 s apart")
            if len(recent) >= FORCE_REFRESH_PER_DAY:
                raise FakeAPIError(45009, "reach max api daily quota limit: force refresh")
            self._forced[appid] = [*recent, now]
            if current is not None:
                self.tokens[current].revoked = True
        elif current is not None:
            issued = self.tokens[current]
            if not issued.revoked and issued.expires_at - now > STABLE_REISSUE_WINDOW:
                return current
        token = self.issue(appid)
        self._stable[appid] = token
        return token

    def classic(self, appid: str) -> str:
        cutoff = self.clock.now() + CLASSIC_OVERLAP
        for previous in self._classic[appid]:
            issued = self.tokens[previous]
            issued.expires_at = min(issued.expires_at, cutoff)
        token = self.issue(appid)
        self._classic[appid] = [token]
        return token

    def check(self, token: str) -> str:
        """The appid `token` belongs to; 41001/40001/42001 as WeChat answers for missing/wrong/expired."""
        if not token:
            raise FakeAPIError(41001, "access_token missing")
        issued = self.tokens.get(token) or self._sibling_issued(token)
        if issued is None or issued.revoked:
            raise FakeAPIError(40001, "invalid credential, access_token is invalid or not latest")
        if self.clock.now() >= issued.expires_at:
            raise FakeAPIError(42001, "access_token expired")
        return issued.appid

    def revoke(self, appid: str | None = None) -> int:
        """Invalidate every token (of `appid`): as if leaked and reset. Returns how many were revoked."""
        count = 0
        for issued in self.tokens.values():
            if (appid is None or issued.appid == appid) and not issued.revoked:
                issued.revoked = True
                count += 1
        return count


@dataclass
class InjectedFailure:
    api: str
    errcode: int
    errmsg: str
    remaining: int | None  # None: until cleared
    openid: str | None


class FailureBook:
    """Errors tests asked the fake to answer instead of the real outcome."""

    def __init__(self) -> None:
        self.pending: list[InjectedFailure] = []

    def add(self, failure: InjectedFailure) -> None:
        self.pending.append(failure)

    def take(self, api: str, recipients: tuple[str, ...]) -> InjectedFailure | None:
        if not self.pending:  # the fast path of every benchmark send
            return None
        for failure in self.pending:
            if failure.api != api or (failure.openid is not None and failure.openid not in recipients):
                continue
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self.pending.remove(failure)
            return failure
        return None


@dataclass
class FakeFollower:
    """What the fake knows about one openid (`user/info`, "not following" errors, mass-send targets)."""

    openid: str
    appid: str | None = None
    subscribed: bool = True
    unionid: str | None = None
    subscribe_time: int = 0
    scene: str | None = None
    tags: list[int] = field(default_factory=list)

    def user_info(self) -> dict[str, Any]:
        if not self.subscribed:
            return {"subscribe": 0, "openid": self.openid}
        info: dict[str, Any] = {
            "subscribe": 1,
            "openid": self.openid,
            "language": "zh_CN",
            "subscribe_time": self.subscribe_time,
            "remark": "",
            "groupid": 0,
            "tagid_list": list(self.tags),
            "subscribe_scene": "ADD_SCENE_QR_CODE" if self.scene else "ADD_SCENE_SEARCH",
            "qr_scene": int(self.scene) if self.scene and self.scene.isdigit() else 0,
            "qr_scene_str": self.scene if self.scene and not self.scene.isdigit() else "",
        }
        if self.unionid:
            info["unionid"] = self.unionid
        return info


class WindowBook:
    """Customer-service windows per openid, counted exactly as content.send_rules defines them."""

    def __init__(self) -> None:
        self.states: dict[str, WindowState] = {}

    def interaction(self, openid: str, kind: str, at: datetime) -> None:
        if kind not in ("message", "event"):
            raise ValueError("an interaction is a 'message' (48 h window) or an 'event' (1 min window)")
        state = self.states.get(openid, WindowState())
        if kind == "message":
            self.states[openid] = WindowState(at, state.last_event_at, 0, state.sends_since_event)
        else:
            self.states[openid] = WindowState(state.last_message_at, at, state.sends_since_message, 0)

    def spend(self, openid: str, now: datetime) -> None:
        """Count one custom message, or raise 45015 (no window) / 45047 (window's count used up)."""
        state = self.states.get(openid, WindowState())
        verdict = custom_send_verdict(state, now)
        if verdict.allowed:
            if verdict.window == "message":
                state = WindowState(
                    state.last_message_at, state.last_event_at, state.sends_since_message + 1, state.sends_since_event
                )
            else:
                state = WindowState(
                    state.last_message_at, state.last_event_at, state.sends_since_message, state.sends_since_event + 1
                )
            self.states[openid] = state
            return
        message_open = state.last_message_at is not None and now < state.last_message_at + MESSAGE_WINDOW
        event_open = state.last_event_at is not None and now < state.last_event_at + EVENT_WINDOW
        if message_open or event_open:
            raise FakeAPIError(45047, "out of response count limit")
        raise FakeAPIError(45015, "response out of time limit or subscription is canceled")
