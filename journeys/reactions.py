"""What a failed send means for the push, the follower and the API, per WECHAT.md's table of codes.

The WeChat client classifies each code (`WeChatAPIError.reaction`); this module turns that reaction into
the outcome the dispatcher records. Kept pure so every code of the table is tested in one place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import aiohttp

from base.clock import start_of_china_day
from journeys.ports import RenderFailed
from wechat.api.errors import (
    Reaction,
    TokenUnavailable,
    WeChatAPIError,
    WeChatError,
    WeChatNetworkError,
)

log = logging.getLogger(__name__)

Outcome = Literal["sent", "held", "retry", "failed", "skipped", "unknown", "paused"]
# After an admin-level refusal (banned, IP not whitelisted...) the API is retried this often.
ADMIN_PAUSE = timedelta(hours=1)
RETRY_FAST_TOO = timedelta(seconds=60)
# Follower status to record for codes meaning "this person cannot receive from us".
FOLLOWER_STATUS_BY_CODE = {43004: "unsubscribed", 43019: "blocked", 48002: "blocked"}


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    reason: str = ""
    errcode: int | None = None
    # retry: wait at least this long (None: the dispatcher's exponential backoff).
    retry_after: timedelta | None = None
    # Mark the follower with this status (gone, unsubscribed, blocked).
    follower_status: str | None = None
    # Pause this API (custom | template | mass) for every process until `pause_until`.
    pause_until: datetime | None = None
    # Record a refusal of this consent purpose.
    revoke_consent: str | None = None
    # A template message's msgid, kept to match WeChat's later report of its delivery.
    msg_id: str = ""


SENT = SendResult("sent")


def next_quota_reset(now: datetime) -> datetime:
    """WeChat's daily quotas reset at midnight China time."""
    return start_of_china_day(start_of_china_day(now) + timedelta(hours=36))


def _connection_never_made(error: WeChatNetworkError) -> bool:
    # Only a failure to connect proves WeChat never saw the request; a timeout or a dropped answer may
    # hide a delivered message, and the customer-service API has no idempotency key to make a resend safe.
    return isinstance(error.__cause__, aiohttp.ClientConnectorError)


def result_for_error(error: Exception, *, now: datetime, api: str) -> SendResult:
    """The outcome of a send that raised `error` (WeChat error, network failure or render failure)."""
    if isinstance(error, RenderFailed):
        return SendResult("failed", f"template could not be rendered: {error}"[:200])
    if isinstance(error, WeChatAPIError):
        return _result_for_code(error, now=now, api=api)
    if isinstance(error, WeChatNetworkError):
        if _connection_never_made(error):
            return SendResult("retry", f"WeChat unreachable: {error.detail}"[:200])
        return SendResult("unknown", f"no clear answer from WeChat ({error.detail}); never resent"[:200])
    if isinstance(error, TokenUnavailable | WeChatError):
        return SendResult("retry", f"{type(error).__name__}: {error}"[:200])
    raise error


def _result_for_code(error: WeChatAPIError, *, now: datetime, api: str) -> SendResult:
    code = error.errcode
    detail = f"WeChat {code}: {error.errmsg}"[:200]
    reaction = error.reaction
    if reaction is Reaction.RETRY_BACKOFF or reaction is Reaction.TOKEN:
        # The client already refreshed the token and retried once; what remains is a retry later.
        return SendResult("retry", detail, code)
    if reaction is Reaction.RETRY_LATER_60S:
        return SendResult("retry", detail, code, retry_after=RETRY_FAST_TOO)
    if reaction is Reaction.DROP_MARK_FOLLOWER:
        return SendResult("skipped", detail, code, follower_status=FOLLOWER_STATUS_BY_CODE.get(code, "gone"))
    if reaction is Reaction.QUOTA:
        log.error("daily quota of the %s API exhausted (45009): paused until midnight China time", api)
        return SendResult("paused", detail, code, pause_until=next_quota_reset(now))
    if reaction is Reaction.HOLD_WINDOW or reaction is Reaction.COUNT_EXCEEDED:
        return SendResult("held", detail, code)
    if reaction is Reaction.ALREADY_SENT:
        return SendResult("sent", detail, code)
    if reaction is Reaction.NEVER_RETRY_PAYLOAD:
        log.error("WeChat refused the payload (%s): the template needs the editor's fix", detail)
        return SendResult("failed", detail, code)
    if reaction is Reaction.STOP_ALERT_ADMIN:
        log.critical("WeChat refused the %s API (%s): an admin must act; paused for an hour", api, detail)
        return SendResult("paused", detail, code, pause_until=now + ADMIN_PAUSE)
    if reaction is Reaction.CONSENT_REVOKED:
        return SendResult("skipped", detail, code, revoke_consent="subscription_notice")
    log.error("unexpected WeChat error on %s: %s", api, detail)
    return SendResult("failed", detail, code)
