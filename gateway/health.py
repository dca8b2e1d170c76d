"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from aiohttp import web

from storage.db import Database


def health_routes(db: Database) -> list[web.RouteDef]:
    """`/healthz`: the process answers. `/readyz`: it can also reach its database (503 if not)."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        if await db.ping():
            return web.json_response({"status": "ready", "database": "ok"})
        return web.json_response({"status": "not ready", "database": "unreachable"}, status=503)

    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]


__all__ = ["health_routes"]
