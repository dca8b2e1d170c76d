"""Errors of the outbound WeChat API and what a sender should do about each code (WECHAT.md's table).

Callers switch on `WeChatAPIError.reaction` rather than on raw codes, so the table lives in one place:

    except WeChatAPIError as error:
        if error.reaction is Reaction.HOLD_WINDOW: ...
"""

from __future__ import annotations

from enum import Enum


class Reaction(Enum):
    """What a sender does after an error code."""

    RETRY_BACKOFF = "retry_backoff"  # system busy / too frequent: retry later with bounded backoff
    TOKEN = "token"  # noqa: S105 - a reaction name, not a secret: refresh under the lock, retry once
    DROP_MARK_FOLLOWER = "drop_mark_follower"  # bad openid, gone, not following, blocked us: drop, mark
    QUOTA = "quota"  # daily quota of that API exhausted: pause it until reset, alert
    HOLD_WINDOW = "hold_window"  # outside the customer-service window: hold or use another channel
    COUNT_EXCEEDED = "count_exceeded"  # window's message count used up: no custom sends until next interaction
    ALREADY_SENT = "already_sent"  # clientmsgid already used: treat as sent
    RETRY_LATER_60S = "retry_later_60s"  # retried too fast: try again after 60 seconds
    NEVER_RETRY_PAYLOAD = "never_retry_payload"  # malformed payload or template: fix it, never resend as is
    STOP_ALERT_ADMIN = "stop_alert_admin"  # not authorised, banned, IP not whitelisted: stop, alert
    CONSENT_REVOKED = "consent_revoked"  # subscription notice refused or cancelled: drop, clear consent
    UNKNOWN = "unknown"  # a code this table does not know: treat as failed, keep the details


REACTIONS: dict[int, Reaction] = {
    -1: Reaction.RETRY_BACKOFF,
    45011: Reaction.RETRY_BACKOFF,
    40001: Reaction.TOKEN,
    40014: Reaction.TOKEN,
    42001: Reaction.TOKEN,
    40003: Reaction.DROP_MARK_FOLLOWER,
    46004: Reaction.DROP_MARK_FOLLOWER,
    50005: Reaction.DROP_MARK_FOLLOWER,
    43004: Reaction.DROP_MARK_FOLLOWER,
    43019: Reaction.DROP_MARK_FOLLOWER,
    48002: Reaction.DROP_MARK_FOLLOWER,
    45009: Reaction.QUOTA,
    45015: Reaction.HOLD_WINDOW,
    45047: Reaction.COUNT_EXCEEDED,
    45065: Reaction.ALREADY_SENT,
    45066: Reaction.RETRY_LATER_60S,
    47001: Reaction.NEVER_RETRY_PAYLOAD,
    47003: Reaction.NEVER_RETRY_PAYLOAD,
    40037: Reaction.NEVER_RETRY_PAYLOAD,
    48001: Reaction.STOP_ALERT_ADMIN,
    48004: Reaction.STOP_ALERT_ADMIN,
    40164: Reaction.STOP_ALERT_ADMIN,
    89503: Reaction.STOP_ALERT_ADMIN,
    43101: Reaction.CONSENT_REVOKED,
}

# Codes meaning "this access token is no good" when an API call (not the token fetch) returns them.
TOKEN_ERRCODES = frozenset(code for code, reaction in REACTIONS.items() if reaction is Reaction.TOKEN)
# Reactions after which the same call may simply be tried again later.
RETRYABLE_REACTIONS = frozenset({Reaction.RETRY_BACKOFF, Reaction.RETRY_LATER_60S, Reaction.TOKEN})


def reaction_for(errcode: int) -> Reaction:
    """The reaction WECHAT.md prescribes for `errcode` (UNKNOWN for codes outside the table)."""
    return REACTIONS.get(errcode, Reaction.UNKNOWN)


class WeChatError(Exception):
    """Base of every failure of the outbound WeChat API client."""

    @property
    def retryable(self) -> bool:
        """Whether the same call may be tried again later unchanged."""
        return False


class WeChatAPIError(WeChatError):
    """WeChat answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str, api: str) -> None:
        super().__init__(f"{api}: WeChat error {errcode} ({errmsg})")
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api

    @property
    def reaction(self) -> Reaction:
        """How a sender reacts to this error (see `Reaction`)."""
        return reaction_for(self.errcode)

    @property
    def retryable(self) -> bool:
        return self.reaction in RETRYABLE_REACTIONS


class CredentialsRejected(WeChatAPIError):
    """The token fetch itself failed: wrong appsecret, unknown appid or IP not whitelisted.

    Nothing retries this automatically: an admin must fix the account settings.
    """

    def __init__(self, errcode: int, errmsg: str, api: str, *, appid: str) -> None:
        super().__init__(errcode, errmsg, api)
        self.appid = appid
        self.args = (
            f"WeChat rejected the credentials of {appid} ({errcode} {errmsg}): check the appsecret "
            "(WECHAT_APPSECRET or the account in the console) and the API IP whitelist",
        )

    @property
    def reaction(self) -> Reaction:
        return Reaction.STOP_ALERT_ADMIN

    @property
    def retryable(self) -> bool:
        return False


class WeChatNetworkError(WeChatError):
    """WeChat could not be reached or answered something that is not an API answer. Safe to retry."""

    def __init__(self, api: str, detail: str) -> None:
        super().__init__(f"{api}: {detail}")
        self.api = api
        self.detail = detail

    @property
    def retryable(self) -> bool:
        return True


class TokenUnavailable(WeChatError):
    """Another process holds the refresh lease and did not publish a token in time. Safe to retry."""

    @property
    def retryable(self) -> bool:
        return True


class UnknownAccount(WeChatError, LookupError):
    """No appsecret is configured for this appid (neither in settings nor in the accounts table)."""


__all__ = [
    "REACTIONS",
    "RETRYABLE_REACTIONS",
    "TOKEN_ERRCODES",
    "CredentialsRejected",
    "Reaction",
    "TokenUnavailable",
    "UnknownAccount",
    "WeChatAPIError",
    "WeChatError",
    "WeChatNetworkError",
    "reaction_for",
]
