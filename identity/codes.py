"""One-time codes: issued with `secrets`, stored as a keyed hash, 5 minutes, 5 attempts, rate-limited.

Sending is limited per phone and per follower: one a minute and five a (China) day, counted from the
codes table itself so the limit holds across processes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import start_of_china_day
from storage.identity import codes_sent_since, last_code_sent_after, newest_unused_code
from storage.models.identity import SmsCode

CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5
SENDS_PER_MINUTE = 1
SENDS_PER_DAY = 5
CODE_DIGITS = 6


class CodeRateLimited(Exception):
    """Too many codes for this phone or follower; `retry_after` is None when the day's quota is spent."""

    def __init__(self, message: str, retry_after: timedelta | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of checking a typed code: `ok`, `wrong`, `expired`, `exhausted` or `missing`."""

    outcome: str
    attempts_left: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def new_code() -> str:
    """A uniformly random 6-digit code (leading zeros allowed)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str, *, phone_key: str, follower_id: int, pepper: bytes = b"") -> str:
    """Keyed hash of a code: bound to the phone and follower, peppered with the data key when set."""
    key = hashlib.sha256(b"scrm-otp" + pepper).digest()
    message = f"{follower_id}:{phone_key}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


async def _most_sent_since(session: AsyncSession, since: datetime, *, follower_id: int, phone_key: str) -> int:
    """The larger of the codes sent after `since` to the phone and to the follower."""
    to_phone = await codes_sent_since(session, since, phone_key=phone_key)
    return max(to_phone, await codes_sent_since(session, since, follower_id=follower_id))


async def check_send_allowed(session: AsyncSession, *, follower_id: int, phone_key: str, now: datetime) -> None:
    """Raise `CodeRateLimited` when one more code would exceed a limit for the phone or the follower."""
    minute_ago = now - timedelta(minutes=1)
    if await _most_sent_since(session, minute_ago, follower_id=follower_id, phone_key=phone_key) >= SENDS_PER_MINUTE:
        last = await last_code_sent_after(session, minute_ago, phone_key=phone_key, follower_id=follower_id)
        wait = (last + timedelta(minutes=1) - now) if last is not None else timedelta(minutes=1)
        raise CodeRateLimited("one code a minute", max(wait, timedelta(seconds=1)))
    # Strictly after midnight minus a microsecond: a code sent at midnight counts for the new day.
    since = start_of_china_day(now) - timedelta(microseconds=1)
    if await _most_sent_since(session, since, follower_id=follower_id, phone_key=phone_key) >= SENDS_PER_DAY:
        raise CodeRateLimited("five codes a day", None)


async def issue_code(
    session: AsyncSession, *, follower_id: int, phone_key: str, now: datetime, pepper: bytes = b""
) -> tuple[str, SmsCode]:
    """Check the limits, then store a new code's hash; returns the code (to send, never to store)."""
    await check_send_allowed(session, follower_id=follower_id, phone_key=phone_key, now=now)
    code = new_code()
    row = SmsCode(
        follower_id=follower_id,
        phone_key=phone_key,
        code_hash=hash_code(code, phone_key=phone_key, follower_id=follower_id, pepper=pepper),
        sent_at=now,
        expires_at=now + CODE_TTL,
    )
    session.add(row)
    await session.flush()
    return code, row


async def void_code(session: AsyncSession, row: SmsCode, now: datetime) -> None:
    """The code never reached the phone: it can no longer be used (it still counts for the limits)."""
    row.used_at = now
    session.add(row)
    await session.flush()


async def check_code(
    session: AsyncSession, *, follower_id: int, phone_key: str, typed: str, now: datetime, pepper: bytes = b""
) -> CodeCheck:
    """Check the newest code sent to this follower for this phone; a match uses it up."""
    row = await newest_unused_code(session, follower_id=follower_id, phone_key=phone_key)
    if row is None:
        return CodeCheck("missing")
    if row.expires_at <= now:
        return CodeCheck("expired")
    if row.attempts >= MAX_ATTEMPTS:
        return CodeCheck("exhausted")
    expected = hash_code(typed.strip(), phone_key=phone_key, follower_id=follower_id, pepper=pepper)
    if hmac.compare_digest(expected, row.code_hash):
        row.used_at = now
        session.add(row)
        await session.flush()
        return CodeCheck("ok")
    row.attempts += 1
    session.add(row)
    await session.flush()
    left = MAX_ATTEMPTS - row.attempts
    return CodeCheck("wrong" if left > 0 else "exhausted", left)
