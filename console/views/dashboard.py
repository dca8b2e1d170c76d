"""The dashboard: headline numbers and the funnel from follower to repeat buyer, drawn as charts."""

from __future__ import annotations

from aiohttp import web

from base.clock import real_clock
from console.charts import OUTCOME_COLOURS, Series, funnel_chart, grouped_bar_chart, stacked_bar_chart
from console.keys import SERVICES
from console.queries.dashboard import (
    FunnelRow,
    funnel_by_channel,
    funnel_by_journey,
    overall_funnel,
    push_outcomes_by_day,
    totals,
)
from console.rendering import render_page
from storage.backlogs import outbox_backlog, scheduler_lease, unprocessed_events

DAYS_SHOWN = 14
_STAGES = ("Followers", "Bound a phone", "Buyers", "Repeat buyers")


def _stage_series(rows: list[FunnelRow]) -> list[Series]:
    return [
        Series(_STAGES[0], [row.followers for row in rows]),
        Series(_STAGES[1], [row.bound for row in rows]),
        Series(_STAGES[2], [row.buyers for row in rows]),
        Series(_STAGES[3], [row.repeat_buyers for row in rows]),
    ]


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
        days, outcomes = await push_outcomes_by_day(
            session, now=services.clock.now(), days=DAYS_SHOWN, dialect=services.db.dialect
        )
    return render_page(
        request,
        "dashboard.html",
        totals=overall,
        engine=engine,
        by_channel=by_channel,
        days=DAYS_SHOWN,
        funnel_svg=funnel_chart(funnel.stages(), title="Funnel from follower to repeat buyer"),
        channel_svg=grouped_bar_chart(
            [row.label for row in by_channel], _stage_series(by_channel), title="Funnel by channel"
        ),
        journey_svg=grouped_bar_chart(
            [row.label for row in by_journey], _stage_series(by_journey), title="Funnel by journey"
        ),
        outcomes_svg=stacked_bar_chart(
            days,
            [Series(name, values) for name, values in outcomes.items()],
            colours=OUTCOME_COLOURS,
            title="Push outcomes per day",
        ),
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", dashboard, name="dashboard")
