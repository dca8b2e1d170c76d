"""Liveness, readiness and metrics for load balancers, orchestrators and Prometheus.

- `GET /healthz`: the process answers.
- `GET /readyz`: 503 with the reasons when the database does not answer or a readiness check fails
  (the scheduler leader whose jobs stopped ticking adds one, see journeys.scheduler).
- `GET /metrics`: Prometheus exposition (base.metrics), gauges refreshed first. Like /readyz it is for
  the operator's network: put it behind the same access rules as the callback URL's health checks.
"""

from __future__ import annotations

import logging

from aiohttp import web

from base.metrics import Probes, render
from storage.db import Database

log = logging.getLogger("scrm.health")


def health_routes(db: Database, probes: Probes) -> list[web.RouteDef]:
    """The three routes; `probes` may gain checks and refreshers after they are added."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        if not await db.ping():
            return web.json_response({"status": "not ready", "reasons": ["database unreachable"]}, status=503)
        reasons = await probes.not_ready()
        if reasons:
            return web.json_response({"status": "not ready", "reasons": reasons}, status=503)
        return web.json_response({"status": "ready", "database": "ok"})

    async def metrics(_request: web.Request) -> web.Response:
        try:
            await probes.refresh()
        except Exception as error:  # noqa: BLE001 - the counters are still worth serving without the gauges
            log.warning("metrics gauges could not be refreshed: %r", error)
        body, content_type = render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    return [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]


__all__ = ["health_routes"]
