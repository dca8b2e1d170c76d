"""Every push with its outcome and reason, filterable by outcome, journey and China date."""

from __future__ import annotations

from datetime import date

from aiohttp import web

from base.i18n import _
from console.keys import SERVICES
from console.queries.deliveries import PAGE_SIZE, STATUSES, DeliveryFilter, journey_choices, list_deliveries
from console.rendering import render_page


def parse_filter(query: dict[str, str]) -> tuple[DeliveryFilter, list[str]]:
    """The filter from the query string; bad values are dropped and reported, never fatal."""
    problems: list[str] = []
    status = query.get("status", "")
    if status and status not in STATUSES:
        problems.append(_("Unknown outcome “%(outcome)s”: showing every outcome.") % {"outcome": status})
        status = ""

    def whole(name: str, title: str) -> int | None:
        raw = query.get(name, "").strip()
        if not raw:
            return None
        if raw.isdigit():
            return int(raw)
        problems.append(_("%(field)s must be a number: ignored.") % {"field": title})
        return None

    def day(name: str, title: str) -> date | None:
        raw = query.get(name, "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            problems.append(_("%(field)s must be a date like 2026-01-31: ignored.") % {"field": title})
            return None

    wanted = DeliveryFilter(
        status,
        whole("journey_id", _("Journey")),
        day("day_from", _("From (China date)")),
        day("day_to", _("To")),
        whole("before_id", _("Older than")),
    )
    return wanted, problems


async def deliveries(request: web.Request) -> web.StreamResponse:
    query = {key: value for key, value in request.query.items()}
    wanted, problems = parse_filter(query)
    async with request.app[SERVICES].db.session() as session:
        rows = await list_deliveries(session, wanted)
        journeys = await journey_choices(session)
    next_query = {k: v for k, v in query.items() if k != "before_id" and v}
    older = None
    if len(rows) == PAGE_SIZE and rows[-1].push.id is not None:
        older = {**next_query, "before_id": str(rows[-1].push.id)}
    return render_page(
        request,
        "deliveries.html",
        rows=rows,
        wanted=wanted,
        statuses=STATUSES,
        journeys=journeys,
        problems=problems,
        older=older,
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/deliveries", deliveries)
