"""The gateway as an aiohttp application: callback routes, health routes, graceful shutdown.

    app = build_gateway_app(services, build_default_dispatcher())
    web.run_app(app, host=settings.host, port=settings.port)

On shutdown the application first lets aiohttp finish in-flight callbacks, then waits for their
after-reply work (late replies through the API, ledger updates, interaction hooks). A callback whose
body is still arriving is refused at once instead (`gateway.unfinished`).
"""

from __future__ import annotations

from aiohttp import web

from gateway.accounts import AccountDirectory
from gateway.background import BackgroundWork
from gateway.callback import CallbackEndpoint
from gateway.health import health_routes
from gateway.links import add_link_routes
from gateway.unfinished import refuse_unfinished_bodies
from handlers.context import Services
from handlers.router import Dispatcher
from storage.group_commit import close_group_commit

ENDPOINT_KEY = web.AppKey("scrm.gateway.endpoint", CallbackEndpoint)

# Seconds a shutdown waits for after-reply work before cancelling it; a late reply is at most one
# handler (bounded by its own timeouts) plus one API call.
SHUTDOWN_GRACE = 30.0


def add_gateway_routes(app: web.Application, services: Services, dispatcher: Dispatcher) -> CallbackEndpoint:
    """Add `/wechat`, `/wechat/{appid}`, `/healthz`, `/readyz`, `/l/{token}` and the shutdown drain to `app`.

    On shutdown, every request of `app` whose body is still arriving is refused (503) at once.
    """
    endpoint = CallbackEndpoint(
        services, dispatcher, AccountDirectory(services.db, services.settings), BackgroundWork()
    )
    for path in ("/wechat", "/wechat/{appid}"):
        app.router.add_route("GET", path, endpoint.handle)
        app.router.add_route("POST", path, endpoint.handle)
    app.router.add_routes(health_routes(services.db, services.probes))
    add_link_routes(app, services)
    app[ENDPOINT_KEY] = endpoint

    async def drain(_app: web.Application) -> None:
        await endpoint.background.drain(SHUTDOWN_GRACE)

    # on_shutdown catches work already started; on_cleanup runs after aiohttp has waited for in-flight
    # requests, so it also catches work those requests spawned on their way out.
    async def drain_and_close(_app: web.Application) -> None:
        await endpoint.background.drain(SHUTDOWN_GRACE)
        await close_group_commit(services.db)

    refuse_unfinished_bodies(app)  # before the drain, whose hook may wait for a while
    app.on_shutdown.append(drain)
    app.on_cleanup.append(drain_and_close)
    return endpoint


def build_gateway_app(services: Services, dispatcher: Dispatcher) -> web.Application:
    """A standalone application serving only the gateway."""
    app = web.Application(client_max_size=1024 * 1024)
    add_gateway_routes(app, services, dispatcher)
    return app


__all__ = ["ENDPOINT_KEY", "SHUTDOWN_GRACE", "add_gateway_routes", "build_gateway_app"]
