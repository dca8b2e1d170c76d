"""Signals of engagement: send results WeChat reports later, and a profile's timeline of what happened.

The timeline is the profile's domain events (what its followers did: follows and their channel, menu taps,
keyword replies, template-message results, bindings, clicks...) merged with its orders, newest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel import select as model_select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.core import DomainEvent, Follower, InboundEvent
from storage.models.engagement import MassSendResult, TemplateReceipt
from storage.models.orders import Order

RECEIPTS = cast(Table, TemplateReceipt.__table__)  # type: ignore[attr-defined]
MASS_RESULTS = cast(Table, MassSendResult.__table__)  # type: ignore[attr-defined]


async def insert_template_receipts(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Keep the msgid of each template message WeChat accepted (appid, msg_id, push_id, follower_id, sent_at).

    A msgid WeChat answers again names the newer send, which takes the receipt over: the receipt is
    bookkeeping for later results, and it runs in the dispatcher's accounting of sends, which must not
    fail over it.
    """
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(RECEIPTS)
    taken_over = statement.on_conflict_do_update(
        index_elements=["appid", "msg_id"],
        set_={name: statement.excluded[name] for name in ("push_id", "follower_id", "sent_at", "status")},
    )
    # One row per msgid per statement: PostgreSQL refuses to update the same row twice in one INSERT.
    latest = {(row["appid"], row["msg_id"]): {"status": "", **row} for row in rows}
    await conn.execute(taken_over, list(latest.values()))


@dataclass(frozen=True)
class TemplateOutcome:
    """The push a TEMPLATESENDJOBFINISH was about, and what WeChat said."""

    push_id: int
    follower_id: int
    status: str


async def record_template_result(
    session: AsyncSession, *, appid: str, msg_id: str, status: str, at: datetime
) -> TemplateOutcome | None:
    """Mark the receipt of `msg_id` with WeChat's status; None when no push of ours had that msgid."""
    conn = await session.connection()
    row = (
        await conn.execute(
            update(RECEIPTS)
            .where(RECEIPTS.c.appid == appid, RECEIPTS.c.msg_id == msg_id)
            .values(status=status[:40], reported_at=at)
            .returning(RECEIPTS.c.push_id, RECEIPTS.c.follower_id)
        )
    ).first()
    if row is None:
        return None
    return TemplateOutcome(push_id=int(row.push_id), follower_id=int(row.follower_id), status=status)


async def record_mass_send_result(
    session: AsyncSession,
    *,
    appid: str,
    msg_id: str,
    status: str,
    counts: Mapping[str, int],
    at: datetime,
) -> bool:
    """Keep a MASSSENDJOBFINISH's counts once per (appid, msg_id); False when it was already kept."""
    conn = await session.connection()
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(MASS_RESULTS)
        .values(appid=appid, msg_id=msg_id, status=status[:80], reported_at=at, **counts)
        .on_conflict_do_nothing(index_elements=["appid", "msg_id"])
    )
    return bool((await conn.execute(statement)).rowcount)


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a profile's timeline: a domain event (`kind`) or an order (`kind` "order")."""

    at: datetime
    kind: str
    follower_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


async def profile_timeline(session: AsyncSession, profile_id: int, limit: int = 100) -> list[TimelineEntry]:
    """The newest `limit` things that happened to this profile and its followers, newest first."""
    followers = model_select(col(Follower.id)).where(Follower.profile_id == profile_id)
    events = (
        await session.exec(
            model_select(DomainEvent)
            .where(
                or_(
                    col(DomainEvent.profile_id) == profile_id,
                    col(DomainEvent.follower_id).in_(followers.scalar_subquery()),
                )
            )
            .order_by(col(DomainEvent.occurred_at).desc(), col(DomainEvent.id).desc())
            .limit(limit)
        )
    ).all()
    orders = (
        await session.exec(
            model_select(Order)
            .where(Order.profile_id == profile_id, col(Order.ordered_at).is_not(None))
            .order_by(col(Order.ordered_at).desc())
            .limit(limit)
        )
    ).all()
    entries = [
        TimelineEntry(at=event.occurred_at, kind=event.kind, follower_id=event.follower_id, detail=dict(event.payload))
        for event in events
    ]
    entries += [
        TimelineEntry(
            at=order.ordered_at,
            kind="order",
            detail={
                "platform": order.platform,
                "order_no": order.order_no,
                "status": order.status,
                "paid_fen": order.paid_fen,
            },
        )  # fmt: skip
        for order in orders
        if order.ordered_at is not None
    ]
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]


async def chat_deliveries(
    session: AsyncSession, followers: Sequence[tuple[str, str]], limit: int = 100
) -> list[InboundEvent]:
    """The newest messages these (appid, openid) followers typed or sent, with the replies they got, as long
    as the callback ledger keeps them; events (follows, taps) are on the timeline as domain events already."""
    openids = sorted({openid for _appid, openid in followers})
    if not openids:
        return []
    statement = (
        model_select(InboundEvent)
        .where(col(InboundEvent.openid).in_(openids), col(InboundEvent.kind).not_like("event%"))
        .order_by(col(InboundEvent.received_at).desc(), col(InboundEvent.id).desc())
        .limit(limit)
    )
    wanted = set(followers)
    return [row for row in (await session.exec(statement)).all() if (row.appid, row.openid) in wanted]


__all__ = [
    "chat_deliveries",
    "TemplateOutcome",
    "TimelineEntry",
    "insert_template_receipts",
    "profile_timeline",
    "record_mass_send_result",
    "record_template_result",
]
