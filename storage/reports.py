"""Figures per message template: how many went out, what WeChat reported, and what they earned."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, distinct, func
from sqlalchemy import select as core_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.content import Template, TemplateVersion
from storage.models.engagement import TemplateReceipt
from storage.models.links import LinkClick
from storage.models.pushes import Push, PushAttribution


@dataclass
class TemplateFigures:
    """One template's pushes: sent, failed, WeChat's delivery reports (template messages), orders, revenue."""

    template: str
    sent: int = 0
    failed: int = 0
    reported_delivered: int = 0
    reported_failed: int = 0
    orders: int = 0
    revenue_fen: int = 0
    clicked: int = 0

    @property
    def click_rate(self) -> float:
        """Deliveries whose links were opened, per push sent."""
        return self.clicked / self.sent if self.sent else 0.0

    @property
    def conversion(self) -> float:
        """Orders credited per push sent."""
        return self.orders / self.sent if self.sent else 0.0


async def template_figures(session: AsyncSession) -> list[TemplateFigures]:
    """Every template that has pushes, busiest first."""
    conn = await session.connection()
    name = col(Template.name)
    by_version = (
        core_select(col(TemplateVersion.id).label("version_id"), name.label("template"))
        .join(Template, col(Template.id) == col(TemplateVersion.template_id))
        .subquery()
    )
    figures: dict[str, TemplateFigures] = {}

    def row(template: str) -> TemplateFigures:
        return figures.setdefault(template, TemplateFigures(template=template))

    pushes = await conn.execute(
        core_select(
            by_version.c.template,
            func.sum(case((col(Push.status) == "sent", 1), else_=0)),
            func.sum(case((col(Push.status).in_(("failed", "unknown")), 1), else_=0)),
        )
        .join(by_version, by_version.c.version_id == col(Push.template_version_id))
        .group_by(by_version.c.template)
    )
    for template, sent, failed in pushes.all():
        row(template).sent, row(template).failed = int(sent or 0), int(failed or 0)
    reports = await conn.execute(
        core_select(
            by_version.c.template,
            func.sum(case((col(TemplateReceipt.status) == "success", 1), else_=0)),
            func.sum(case((col(TemplateReceipt.status).like("failed%"), 1), else_=0)),
        )
        .join(Push, col(Push.id) == col(TemplateReceipt.push_id))
        .join(by_version, by_version.c.version_id == col(Push.template_version_id))
        .group_by(by_version.c.template)
    )
    for template, delivered, failed in reports.all():
        row(template).reported_delivered, row(template).reported_failed = int(delivered or 0), int(failed or 0)
    credits = await conn.execute(
        core_select(
            by_version.c.template,
            func.count(),
            func.sum(case((col(PushAttribution.refunded).is_(True), 0), else_=col(PushAttribution.amount_fen))),
        )
        .join(Push, col(Push.id) == col(PushAttribution.push_id))
        .join(by_version, by_version.c.version_id == col(Push.template_version_id))
        .group_by(by_version.c.template)
    )
    for template, orders, revenue in credits.all():
        row(template).orders, row(template).revenue_fen = int(orders or 0), int(revenue or 0)
    for template, clicked in (await clicks_per_template(session)).items():
        row(template).clicked = clicked
    return sorted(figures.values(), key=lambda f: (-f.sent, f.template))


async def clicks_per_step(session: AsyncSession) -> dict[tuple[int, str], int]:
    """Pushes of each (journey, step) whose links were opened at least once, by anyone."""
    conn = await session.connection()
    rows = await conn.execute(
        core_select(
            col(LinkClick.journey_id), col(LinkClick.step_key), func.count(distinct(col(LinkClick.delivery_id)))
        )
        .where(col(LinkClick.delivery_kind) == "push", col(LinkClick.journey_id).is_not(None))
        .group_by(col(LinkClick.journey_id), col(LinkClick.step_key))
    )
    return {(int(journey or 0), str(step)): int(count) for journey, step, count in rows.all()}


async def clicks_per_template(session: AsyncSession) -> dict[str, int]:
    """Deliveries (pushes, mass sends, replies) of each template whose links were opened at least once."""
    conn = await session.connection()
    opened = (
        core_select(col(LinkClick.template_version_id), col(LinkClick.delivery_kind), col(LinkClick.delivery_id))
        .distinct()
        .subquery()
    )
    rows = await conn.execute(
        core_select(col(Template.name), func.count())
        .select_from(opened)
        .join(TemplateVersion, col(TemplateVersion.id) == opened.c.template_version_id)
        .join(Template, col(Template.id) == col(TemplateVersion.template_id))
        .group_by(col(Template.name))
    )
    return {str(name): int(count) for name, count in rows.all()}


__all__ = ["TemplateFigures", "clicks_per_step", "clicks_per_template", "template_figures"]
