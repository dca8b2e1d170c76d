"""Proving a phone without SMS: a question only the buyer can answer from the orders imported for it.

The question asks for the last four digits of any of the buyer's order numbers on one platform (they
see them in the marketplace app); when no order number is long enough, for the amount paid for the
latest order. The accepted answers travel in the conversation state as keyed hashes, never in clear.
Failed answers are audited per follower and limited per (China) day, so restarting the flow does not
buy more guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import start_of_china_day
from identity.linking import audit, follower_target
from storage.identity import audit_entries_since, profile_orders_newest_first
from storage.models.core import Follower

FAILED_ACTION = "identity.proof_failed"
MIN_ORDER_NO_LENGTH = 8
# Wrong answers a follower may give per China day, across restarts of the flow.
MAX_FAILED_PER_DAY = 5
PLATFORM_NAMES = {
    "tmall": "天猫",
    "taobao": "淘宝",
    "jd": "京东",
    "youzan": "有赞",
    "pdd": "拼多多",
    "douyin": "抖音",
    "wechat_shop": "微信小店",
}


@dataclass(frozen=True)
class OrderQuestion:
    """A question and the hashes of the answers that prove the phone."""

    kind: str  # order_last4 | latest_amount
    prompt: str
    salt: str
    answer_hashes: tuple[str, ...]

    def to_state(self) -> dict[str, Any]:
        return {"kind": self.kind, "prompt": self.prompt, "salt": self.salt, "answers": list(self.answer_hashes)}

    @classmethod
    def from_state(cls, data: Any) -> OrderQuestion:
        if not isinstance(data, dict):
            raise ValueError("no order question in the conversation state")
        return cls(str(data["kind"]), str(data["prompt"]), str(data["salt"]), tuple(data["answers"]))


def _hash_answer(salt: str, answer: str) -> str:
    return hmac.new(salt.encode(), answer.encode(), hashlib.sha256).hexdigest()


def _fen_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


async def pick_question(session: AsyncSession, phone_key: str) -> OrderQuestion | None:
    """A question about the orders of the profile keyed by `phone_key`, or None when it has none."""
    orders = await profile_orders_newest_first(session, phone_key)
    if not orders:
        return None
    salt = secrets.token_hex(8)
    latest = orders[0]
    numbered = [o for o in orders if o.platform == latest.platform and len(_digits(o.order_no)) >= MIN_ORDER_NO_LENGTH]
    if numbered:
        platform = PLATFORM_NAMES.get(latest.platform, "我们店铺")
        answers = {_digits(o.order_no)[-4:] for o in numbered}
        prompt = f"为确认是你本人，请回复你在{platform}的任意一笔订单编号的后4位数字。"
        return OrderQuestion("order_last4", prompt, salt, tuple(sorted(_hash_answer(salt, a) for a in answers)))
    if latest.paid_fen is not None and latest.paid_fen > 0:
        prompt = "为确认是你本人，请回复你最近一笔订单的实付金额（元），例如 199.00。"
        return OrderQuestion("latest_amount", prompt, salt, (_hash_answer(salt, _fen_text(latest.paid_fen)),))
    return None


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _normalise_answer(kind: str, typed: str) -> str | None:
    text = typed.strip()
    if kind == "order_last4":
        digits = _digits(text)
        return digits[-4:] if len(digits) >= 4 else None
    cleaned = re.sub(r"[¥￥元,，\s]", "", text)
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        return None
    if amount < 0 or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        return None
    return _fen_text(int(amount * 100))


def answer_matches(question: OrderQuestion, typed: str) -> bool:
    """Whether the typed answer is one of the accepted ones (compared as keyed hashes)."""
    normalised = _normalise_answer(question.kind, typed)
    if normalised is None:
        return False
    candidate = _hash_answer(question.salt, normalised)
    return any(hmac.compare_digest(candidate, accepted) for accepted in question.answer_hashes)


async def record_failure(session: AsyncSession, follower: Follower, now: datetime) -> None:
    """Audit a wrong answer; the daily limit counts these."""
    audit(
        session,
        actor=follower_target(follower),
        action=FAILED_ACTION,
        target=follower_target(follower),
        at=now,
        method="order_question",
    )
    await session.flush()


async def failed_answers_today(session: AsyncSession, follower_id: int, now: datetime) -> int:
    """Wrong order answers of this follower since the start of the China day."""
    return await audit_entries_since(
        session, action=FAILED_ACTION, target=f"follower:{follower_id}", since=start_of_china_day(now)
    )
