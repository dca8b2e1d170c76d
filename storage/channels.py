"""Channel QR codes and what each brought: follows, bindings, purchases and opt-outs per scene."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, distinct, func
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.core import Account, DomainEvent, Follower
from storage.models.engagement import Channel
from storage.models.orders import Order


async def channel_by_scene(session: AsyncSession, appid: str, scene: str) -> Channel | None:
    statement = select(Channel).where(Channel.appid == appid, Channel.scene == scene)
    return (await session.exec(statement)).first()


async def channel_by_id(session: AsyncSession, channel_id: int) -> Channel | None:
    return await session.get(Channel, channel_id)


async def all_channels(session: AsyncSession, appid: str | None = None) -> list[Channel]:
    statement = select(Channel).order_by(col(Channel.created_at).desc(), col(Channel.id).desc())
    if appid is not None:
        statement = statement.where(Channel.appid == appid)
    return list((await session.exec(statement)).all())


async def account_choices(session: AsyncSession) -> list[tuple[str, str]]:
    """(appid, name) of every configured account, the default first: where a channel can be created."""
    statement = select(Account.appid, Account.name).order_by(col(Account.is_default).desc(), col(Account.appid))
    return [(str(appid), str(name or "")) for appid, name in (await session.exec(statement)).all()]


@dataclass(frozen=True)
class ChannelFigures:
    """What followers who first came through one scene did afterwards."""

    scene: str
    follows: int = 0
    still_following: int = 0
    bound: int = 0
    buyers: int = 0
    orders: int = 0
    revenue_fen: int = 0
    unfollowed: int = 0
    consent_withdrawn: int = 0


async def channel_figures(session: AsyncSession, appid: str, scenes: list[str]) -> dict[str, ChannelFigures]:
    """Figures per scene, for followers whose first follow came through it (`followers.channel_scene`).

    Purchases count only orders placed after the follow, by the profile the follower bound.
    """
    if not scenes:
        return {}
    in_scenes = and_(col(Follower.appid) == appid, col(Follower.channel_scene).in_(scenes))
    conn = await session.connection()
    base = (
        await conn.execute(
            core_select(
                col(Follower.channel_scene),
                func.count(),
                func.sum(case((col(Follower.status) == "subscribed", 1), else_=0)),
                func.sum(case((col(Follower.profile_id).is_not(None), 1), else_=0)),
                func.sum(case((col(Follower.status) == "unsubscribed", 1), else_=0)),
            )
            .where(in_scenes)
            .group_by(col(Follower.channel_scene))
        )
    ).all()
    bought = (
        await conn.execute(
            core_select(
                col(Follower.channel_scene),
                func.count(distinct(col(Order.profile_id))),
                func.count(col(Order.id)),
                func.coalesce(func.sum(Order.paid_fen), 0),
            )
            .join(Order, col(Order.profile_id) == col(Follower.profile_id))
            .where(in_scenes, col(Order.ordered_at) >= col(Follower.subscribed_at))
            .group_by(col(Follower.channel_scene))
        )
    ).all()
    withdrawn = (
        await conn.execute(
            core_select(col(Follower.channel_scene), func.count(distinct(col(DomainEvent.follower_id))))
            .join(DomainEvent, col(DomainEvent.follower_id) == col(Follower.id))
            .where(in_scenes, col(DomainEvent.kind) == "consent_withdrawn")
            .group_by(col(Follower.channel_scene))
        )
    ).all()
    figures = {scene: ChannelFigures(scene=scene) for scene in scenes}
    for scene, follows, following, bound, unfollowed in base:
        if scene is not None:
            figures[scene] = ChannelFigures(
                scene=scene, follows=int(follows), still_following=int(following or 0), bound=int(bound or 0),
                unfollowed=int(unfollowed or 0),
            )  # fmt: skip
    for scene, buyers, orders, revenue in bought:
        if scene is not None:
            old = figures[scene]
            figures[scene] = ChannelFigures(
                **{**vars(old), "buyers": int(buyers), "orders": int(orders), "revenue_fen": int(revenue or 0)}
            )
    for scene, count in withdrawn:
        if scene is not None:
            figures[scene] = ChannelFigures(**{**vars(figures[scene]), "consent_withdrawn": int(count)})
    return figures


__all__ = ["ChannelFigures", "account_choices", "all_channels", "channel_by_id", "channel_by_scene", "channel_figures"]
