"""The dashboard: headline numbers and the funnel from follower to repeat buyer, drawn as charts."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from base.clock import real_clock
from base.i18n import N_, _
from console.charts import OUTCOME_COLOURS, Series, funnel_chart, grouped_bar_chart, stacked_bar_chart
from console.keys import SERVICES
from console.labels import label
from console.queries.dashboard import (
    DIRECT,
    FunnelRow,
    funnel_by_channel,
    funnel_by_journey,
    overall_funnel,
    push_outcomes_by_day,
    totals,
)
from console.rendering import render_page
from publishing.coupons import pool_statuses
from storage.backlogs import outbox_backlog, scheduler_lease, unprocessed_events

DAYS_SHOWN = 14
_STAGES = (N_("Followers"), N_("Bound a phone"), N_("Buyers"), N_("Repeat buyers"))


def _stages(row: FunnelRow) -> list[tuple[str, int]]:
    counts = (row.followers, row.bound, row.buyers, row.repeat_buyers)
    return [(_(name), count) for name, count in zip(_STAGES, counts, strict=True)]


def _stage_series(rows: list[FunnelRow]) -> list[Series]:
    return [
        Series(_(_STAGES[0]), [row.followers for row in rows]),
        Series(_(_STAGES[1]), [row.bound for row in rows]),
        Series(_(_STAGES[2]), [row.buyers for row in rows]),
        Series(_(_STAGES[3]), [row.repeat_buyers for row in rows]),
    ]


def _channel_label(label: str) -> str:
    # Followers who came with no QR scene are grouped under a code the query returns.
    return _("(no channel)") if label == DIRECT else label


async def dashboard(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    now = services.clock.now()
    lease = await scheduler_lease(services.db)
    engine = {
        "scheduler": services.probes.scheduler() if services.probes.scheduler is not None else None,
        # The lease runs on the wall clock (journeys.scheduler), whatever a demo clock says.
        "lease_holder": lease[0] if lease is not None and lease[1] > real_clock(services.clock).now() else None,
        "outbox": await outbox_backlog(services.db, now),
        "events": await unprocessed_events(services.db),
    }
    async with services.db.session() as session:
        overall = await totals(session)
        funnel = await overall_funnel(session)
        by_channel = await funnel_by_channel(session)
        by_journey = await funnel_by_journey(session)
        coupons = await pool_statuses(session)
        days, outcomes = await push_outcomes_by_day(session, now=services.clock.now(), days=DAYS_SHOWN)
    return render_page(
        request,
        "dashboard.html",
        totals=overall,
        engine=engine,
        coupons=coupons,
        by_channel=[replace(row, label=_channel_label(row.label)) for row in by_channel],
        days=DAYS_SHOWN,
        funnel_svg=funnel_chart(_stages(funnel), title=_("Funnel from follower to repeat buyer")),
        channel_svg=grouped_bar_chart(
            [_channel_label(row.label) for row in by_channel], _stage_series(by_channel), title=_("Funnel by channel")
        ),
        journey_svg=grouped_bar_chart(
            [row.label for row in by_journey], _stage_series(by_journey), title=_("Funnel by journey")
        ),
        outcomes_svg=stacked_bar_chart(
            days,
            [Series(label(name, "push"), values) for name, values in outcomes.items()],
            colours={label(name, "push"): colour for name, colour in OUTCOME_COLOURS.items()},
            title=_("Push outcomes per day"),
        ),
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", dashboard, name="dashboard")
