"""The phone-binding conversation: ask the phone, prove it, ask for marketing consent, link.

Steps (kept in the follower's conversation state, flow `bind`):

    phone         -> the follower types a number; importer rules decide if it can key a profile
    order_answer  -> a question only the buyer can answer from imported orders (no SMS needed)
    code          -> a 6-digit code sent by SMS
    consent       -> yes / no to marketing messages, recorded with the exact words shown; then link

The number never sits in the state in clear: the state keeps the vault's seal and lookup key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from base.phones import CIPHERTEXT, EXTENSION, LANDLINE, MASKED, VIRTUAL, classify_phone
from base.vault import PhoneVault, mask_phone
from identity import codes, messages
from identity.consent import record_consent
from identity.linking import PROOF_ORDER, PROOF_SMS, follower_target, held_by_other_follower, link_follower
from identity.order_proof import (
    MAX_FAILED_PER_DAY,
    OrderQuestion,
    answer_matches,
    failed_answers_today,
    pick_question,
    record_failure,
)
from identity.sms.base import SmsError, SmsSender
from storage.conversations import ConversationState
from storage.models.core import Follower, Profile

FLOW = "bind"
ORDER_TRIES = 3
YES_WORDS = frozenset({"是", "是的", "好", "好的", "同意", "愿意", "可以", "y", "yes", "1"})
NO_WORDS = frozenset({"否", "不", "不要", "不用", "不同意", "不愿意", "n", "no", "2"})
RESEND_WORDS = frozenset({"重发", "重新发送", "再发一次"})
SMS_WORDS = frozenset({"短信", "验证码", "短信验证"})

log = logging.getLogger("scrm.identity.binding")


@dataclass
class BindingContext:
    """What a binding step needs: the follower's session, its row, time and the identity services."""

    session: AsyncSession
    follower: Follower
    state: ConversationState
    vault: PhoneVault
    sms: SmsSender | None
    now: datetime
    pepper: bytes = b""
    # The wall clock, for what a person does in real time: a code's 5 minutes of validity and its resend
    # limits (the demo clock may run 600 times faster; `now` stays the product's clock).
    wall_now: datetime | None = None

    @property
    def code_now(self) -> datetime:
        return self.wall_now or self.now

    @property
    def follower_id(self) -> int:
        assert self.follower.id is not None
        return self.follower.id

    @property
    def sms_available(self) -> bool:
        return self.sms is not None and self.sms.available


def _normalise(text: str) -> str:
    return text.strip().casefold()


async def start(ctx: BindingContext) -> str:
    """Begin (or restart) the flow: ask for the phone, mentioning a current binding."""
    ctx.state.start(FLOW, "phone")
    if ctx.follower.profile_id is not None:
        profile = await ctx.session.get(Profile, ctx.follower.profile_id)
        if profile is not None and profile.phone_masked:
            return messages.ASK_PHONE_REBIND.format(masked=profile.phone_masked)
    return messages.ASK_PHONE


def cancel(state: ConversationState) -> str:
    """Leave the flow at any step."""
    state.clear()
    return messages.CANCELLED


async def advance(ctx: BindingContext, text: str) -> str:
    """Feed the follower's text to the current step; returns the reply."""
    step = ctx.state.step
    if step == "phone":
        return await _on_phone(ctx, text)
    if step == "order_answer":
        return await _on_order_answer(ctx, text)
    if step == "code":
        return await _on_code(ctx, text)
    if step == "consent":
        return await _on_consent(ctx, text)
    # An unknown step (state written by an older version): start again rather than guess.
    return await start(ctx)


_REJECTIONS = {
    MASKED: messages.PHONE_MASKED,
    VIRTUAL: messages.PHONE_VIRTUAL,
    EXTENSION: messages.PHONE_VIRTUAL,
    LANDLINE: messages.PHONE_LANDLINE,
    CIPHERTEXT: messages.PHONE_INVALID,
}


async def _on_phone(ctx: BindingContext, text: str) -> str:
    verdict = classify_phone(text)
    if not verdict.is_key or verdict.e164 is None:
        return _REJECTIONS.get(verdict.kind, messages.PHONE_INVALID)
    e164 = verdict.e164
    phone_key = ctx.vault.lookup_key(e164)
    if ctx.follower.profile_id is not None:
        current = await ctx.session.get(Profile, ctx.follower.profile_id)
        if current is not None and current.phone_key == phone_key:
            ctx.state.clear()
            return messages.ALREADY_BOUND.format(masked=mask_phone(e164))
    ctx.state.data.update(phone_sealed=ctx.vault.seal(e164), phone_key=phone_key, masked=mask_phone(e164))
    notice = messages.HELD_BY_OTHER if await held_by_other_follower(ctx.session, ctx.follower, phone_key) else ""
    question = None
    if await failed_answers_today(ctx.session, ctx.follower_id, ctx.now) < MAX_FAILED_PER_DAY:
        question = await pick_question(ctx.session, phone_key)
    if question is not None:
        ctx.state.goto("order_answer", question=question.to_state(), order_tries=0)
        hint = messages.OR_SMS if ctx.sms_available else ""
        return notice + question.prompt + hint
    if ctx.sms_available:
        return notice + await _send_code(ctx)
    ctx.state.clear()
    return messages.NO_PROOF_AVAILABLE


def _phone(ctx: BindingContext) -> str:
    return ctx.vault.unseal(str(ctx.state.data["phone_sealed"]))


async def _send_code(ctx: BindingContext) -> str:
    assert ctx.sms is not None
    phone_key = str(ctx.state.data["phone_key"])
    masked = str(ctx.state.data["masked"])
    try:
        code, row = await codes.issue_code(
            ctx.session, follower_id=ctx.follower_id, phone_key=phone_key, now=ctx.code_now, pepper=ctx.pepper
        )
    except codes.CodeRateLimited as limited:
        ctx.state.goto("code")
        if limited.retry_after is None:
            return messages.CODE_DAILY_LIMIT
        return messages.CODE_WAIT.format(seconds=_seconds(limited.retry_after))
    try:
        await ctx.sms.send_code(_phone(ctx), code, int(codes.CODE_TTL.total_seconds() // 60))
    except SmsError as error:
        log.warning("SMS code to %s not sent: %s", masked, error)
        await codes.void_code(ctx.session, row, ctx.now)
        ctx.state.goto("code")
        return messages.CODE_SEND_FAILED
    ctx.state.goto("code")
    return messages.CODE_SENT.format(masked=masked)


def _seconds(delta: timedelta) -> int:
    return max(1, int(delta.total_seconds() + 0.999))


async def _on_order_answer(ctx: BindingContext, text: str) -> str:
    typed = _normalise(text)
    if typed in SMS_WORDS and ctx.sms_available:
        return await _send_code(ctx)
    question = OrderQuestion.from_state(ctx.state.data["question"])
    if answer_matches(question, text):
        return _proven(ctx, PROOF_ORDER)
    await record_failure(ctx.session, ctx.follower, ctx.now)
    tries = int(ctx.state.data.get("order_tries", 0)) + 1
    ctx.state.goto("order_answer", order_tries=tries)
    if tries < ORDER_TRIES:
        return messages.ORDER_WRONG.format(left=ORDER_TRIES - tries)
    if ctx.sms_available:
        return messages.ORDER_FAILED_TRY_SMS + await _send_code(ctx)
    ctx.state.clear()
    return messages.ORDER_FAILED


async def _on_code(ctx: BindingContext, text: str) -> str:
    typed = _normalise(text)
    if typed in RESEND_WORDS or typed in SMS_WORDS:
        if not ctx.sms_available:
            ctx.state.clear()
            return messages.NO_PROOF_AVAILABLE
        return await _send_code(ctx)
    digits = "".join(ch for ch in typed if ch.isdigit())
    if len(digits) != codes.CODE_DIGITS or len(typed) > 12:
        return messages.CODE_FORMAT
    check = await codes.check_code(
        ctx.session,
        follower_id=ctx.follower_id,
        phone_key=str(ctx.state.data["phone_key"]),
        typed=digits,
        now=ctx.code_now,
        pepper=ctx.pepper,
    )
    if check.ok:
        return _proven(ctx, PROOF_SMS)
    if check.outcome == "wrong":
        return messages.CODE_WRONG.format(left=check.attempts_left)
    if check.outcome == "exhausted":
        return messages.CODE_EXHAUSTED
    return messages.CODE_EXPIRED


def _proven(ctx: BindingContext, proof: str) -> str:
    ctx.state.goto("consent", proof=proof)
    return messages.PROVEN.format(masked=ctx.state.data["masked"]) + messages.CONSENT_QUESTION


async def _on_consent(ctx: BindingContext, text: str) -> str:
    typed = _normalise(text)
    if typed in YES_WORDS:
        granted = True
    elif typed in NO_WORDS:
        granted = False
    else:
        return messages.CONSENT_REPEAT + messages.CONSENT_QUESTION
    proof = str(ctx.state.data["proof"])
    outcome = await link_follower(
        ctx.session,
        ctx.follower,
        _phone(ctx),
        vault=ctx.vault,
        proof=proof,
        actor=f"follower:{ctx.follower_id}",
        now=ctx.now,
    )
    await record_consent(
        ctx.session,
        ctx.follower_id,
        granted=granted,
        at=ctx.now,
        text_shown=messages.CONSENT_QUESTION,
        source="binding",
        profile_id=outcome.profile.id,
    )
    masked = str(ctx.state.data["masked"])
    log.info(
        "%s bound %s by %s (displaced %d, unionid %d)",
        follower_target(ctx.follower),
        masked,
        proof,
        len(outcome.displaced),
        len(outcome.unionid_linked),
    )
    ctx.state.clear()
    reply = messages.BOUND.format(masked=masked)
    if outcome.displaced:
        reply += messages.MOVED_FROM_OTHER
    return reply + (messages.CONSENT_YES if granted else messages.CONSENT_NO)
