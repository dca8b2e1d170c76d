"""Last-touch attribution: an order credits the last push its buyer received in the window before it.

"Received" means sent (custom or template message) to any follower linked to the order's profile,
within `attribution_days` before the order time (the event's `occurred_at`). Each order is credited at
most once (unique platform + order number), so a re-imported file changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.core import DomainEvent
from storage.models.pushes import Push, PushAttribution


async def attribute_order(session: AsyncSession, event: DomainEvent, attribution_days: int, now: datetime) -> bool:
    """Credit the order of a purchase event to the latest push in its window; True when credited."""
    payload: dict[str, Any] = dict(event.payload or {})
    order_no = str(payload.get("order_no") or "")
    platform = str(payload.get("platform") or "")
    if not order_no or event.profile_id is None or attribution_days <= 0:
        return False
    ordered_at = event.occurred_at
    statement = (
        select(Push)
        .where(
            Push.profile_id == event.profile_id,
            Push.status == "sent",
            col(Push.sent_at) <= ordered_at,
            col(Push.sent_at) >= ordered_at - timedelta(days=attribution_days),
        )
        .order_by(col(Push.sent_at).desc(), col(Push.id).desc())
        .limit(1)
    )
    push = (await session.exec(statement)).first()
    if push is None or push.id is None:
        return False
    existing = (
        await session.exec(
            select(PushAttribution).where(PushAttribution.platform == platform, PushAttribution.order_no == order_no)
        )
    ).first()
    if existing is not None:
        return False
    credit = PushAttribution(
        push_id=push.id, journey_id=push.journey_id, step_index=push.step_index, profile_id=event.profile_id,
        platform=platform, order_no=order_no, amount_fen=int(payload.get("amount_fen") or 0),
        ordered_at=ordered_at, attributed_at=now,
    )  # fmt: skip
    try:
        async with session.begin_nested():
            session.add(credit)
    except IntegrityError:
        return False  # credited concurrently by another process
    return True


async def mark_refunded(session: AsyncSession, payload: dict[str, Any]) -> None:
    """A refunded order no longer counts as revenue of the push it was credited to."""
    order_no = str(payload.get("order_no") or "")
    platform = str(payload.get("platform") or "")
    credit = (
        await session.exec(
            select(PushAttribution).where(PushAttribution.platform == platform, PushAttribution.order_no == order_no)
        )
    ).first()
    if credit is not None and not credit.refunded:
        credit.refunded = True
        session.add(credit)
