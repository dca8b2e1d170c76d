"""Reports with charts: per journey step delivered → clicked → purchased, per template, per channel.

The figures are the ones `scrm report journeys --json`, `scrm report templates --json` and
`scrm channels list --json` print (journeys.report.journey_report, storage.reports.template_figures,
storage.channels.channel_figures); this page only draws them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from markupsafe import Markup

from base.i18n import _
from console.charts import Series, grouped_bar_chart
from console.keys import SERVICES
from console.rendering import render_page
from console.views.channels import channel_chart, channel_rows
from journeys.report import journey_report
from storage.reports import TemplateFigures, template_figures


def journey_chart(journey: dict[str, Any]) -> Markup:
    steps = journey["steps"]
    return grouped_bar_chart(
        [str(step["step"]) for step in steps],
        [
            Series(_("Delivered"), [int(step["sent"]) for step in steps]),
            Series(_("Clicked"), [int(step["clicked"]) for step in steps]),
            Series(_("Purchased"), [int(step["orders"]) for step in steps]),
        ],
        title=_("Journey %(name)s: delivered, clicked, purchased per step") % {"name": journey["journey"]},
    )


def template_chart(rows: list[TemplateFigures]) -> Markup:
    return grouped_bar_chart(
        [row.template for row in rows],
        [
            Series(_("Delivered"), [row.sent for row in rows]),
            Series(_("Clicked"), [row.clicked for row in rows]),
            Series(_("Purchased"), [row.orders for row in rows]),
        ],
        title=_("Per template: delivered, clicked, purchased"),
    )


async def reports(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        journeys = await journey_report(session)
        templates = await template_figures(session)
        channels = await channel_rows(session)
    return render_page(
        request,
        "reports.html",
        journeys=[(journey, journey_chart(journey)) for journey in journeys if journey["steps"]],
        idle_journeys=[journey for journey in journeys if not journey["steps"]],
        templates=templates,
        template_chart=template_chart(templates) if templates else None,
        channels=channels,
        channel_chart=channel_chart([(channel.name, figures) for channel, figures in channels]) if channels else None,
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/reports", reports)
