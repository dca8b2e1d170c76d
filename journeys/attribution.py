"""Last-touch attribution: an order credits the last push its buyer received in the window before it.

"Received" means sent (custom or template message) to any follower linked to the order's profile,
within `attribution_days` before the order time (the event's `occurred_at`). Each order is credited at
most once (unique platform + order number), so a re-imported file changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.journey_runs import credited_orders, sent_pushes_of_profiles
from storage.journeys import attribution_of_order
from storage.models.core import DomainEvent
from storage.models.pushes import Push, PushAttribution


def _order_key(event: DomainEvent) -> tuple[str, str]:
    payload: dict[str, Any] = dict(event.payload or {})
    return str(payload.get("platform") or ""), str(payload.get("order_no") or "")


class OrderCredits:
    """Attribution for one batch of purchase events, read up front in two statements.

    The pushes sent to the batch's buyers over the whole span of its orders' windows, and which of its
    orders are credited already; `credit` then decides each order in memory.
    """

    def __init__(self, attribution_days: int) -> None:
        self.window = timedelta(days=attribution_days)
        self._sent: dict[int, list[Push]] = defaultdict(list)  # by profile, latest first
        self._credited: set[tuple[str, str]] = set()

    @classmethod
    async def load(cls, session: AsyncSession, events: Sequence[DomainEvent], attribution_days: int) -> OrderCredits:
        credits = cls(attribution_days)
        orders = [e for e in events if e.profile_id is not None and _order_key(e)[1]]
        if not orders or attribution_days <= 0:
            return credits
        since = min(e.occurred_at for e in orders) - credits.window
        until = max(e.occurred_at for e in orders)
        profiles = {e.profile_id for e in orders if e.profile_id is not None}
        for push in await sent_pushes_of_profiles(session, profiles, since=since, until=until):
            if push.profile_id is not None:
                credits._sent[push.profile_id].append(push)
        credits._credited = await credited_orders(session, {_order_key(e)[1] for e in orders})
        return credits

    async def credit(self, session: AsyncSession, event: DomainEvent, now: datetime) -> bool:
        """Credit the order of a purchase event to the latest push in its window; True when credited."""
        platform, order_no = _order_key(event)
        if not order_no or event.profile_id is None or self.window <= timedelta(0):
            return False
        if (platform, order_no) in self._credited:
            return False
        ordered_at = event.occurred_at
        push = next(
            (
                p
                for p in self._sent.get(event.profile_id, [])
                if p.sent_at is not None and ordered_at - self.window <= p.sent_at <= ordered_at
            ),
            None,
        )
        if push is None or push.id is None:
            return False
        payload: dict[str, Any] = dict(event.payload or {})
        credit = PushAttribution(
            push_id=push.id, journey_id=push.journey_id, step_index=push.step_index, profile_id=event.profile_id,
            platform=platform, order_no=order_no, amount_fen=int(payload.get("amount_fen") or 0),
            ordered_at=ordered_at, attributed_at=now,
        )  # fmt: skip
        self._credited.add((platform, order_no))
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
    credit = await attribution_of_order(session, platform=platform, order_no=order_no)
    if credit is not None and not credit.refunded:
        credit.refunded = True
        session.add(credit)
