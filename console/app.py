"""The console as an aiohttp application, mounted under a path of the main server.

    console = build_console_app(services)             # base_path="/console"
    root.add_subapp("/console", console)

or simply `add_console(root, services)`, which also redirects `/console` to `/console/` and serves the
site's `/favicon.ico`. `services` is the gateway's handlers.context.Services; a page whose feature
service is absent (None) says so instead of failing.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from console.imports_runner import IMPORTS, ImportTracker, shutdown_imports
from console.keys import BASE_PATH, JINJA, SERVICES
from console.rendering import build_environments
from console.security import audit_writes, authenticate, require_csrf, security_headers
from console.views import (
    accounts,
    channels,
    coupons,
    dashboard,
    deliveries,
    imports,
    journey_editor,
    journeys,
    language,
    login,
    mass_sends,
    menu,
    profile_export,
    profiles,
    reports,
    segments,
    templates,
    users,
)
from handlers.context import Services

STATIC = Path(__file__).parent / "static"
# segments and profile_export before profiles: /profiles/{profile_id} would take "segments" for an id.
PAGES = (
    login, language, dashboard, templates, journey_editor, journeys, imports, segments, profile_export, profiles,
    deliveries, channels, reports, accounts, users,
)  # fmt: skip
PAGES_OF_CAMPAIGNS = (coupons, mass_sends, menu)
FAVICON = STATIC / "favicon.ico"
# Upload limit: the largest order export we accept, plus room for the multipart envelope.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


def build_console_app(services: Services, *, base_path: str = "/console") -> web.Application:
    """The console's routes, middlewares and templates; mount it with `root.add_subapp(base_path, app)`."""
    if base_path and (not base_path.startswith("/") or base_path.endswith("/")):
        raise ValueError(f"base_path must look like /console (no trailing slash), got {base_path!r}")
    app = web.Application(
        middlewares=[security_headers, authenticate, require_csrf, audit_writes],
        client_max_size=MAX_UPLOAD_BYTES,
    )
    app[SERVICES] = services
    app[BASE_PATH] = base_path
    app[JINJA] = build_environments()
    app[IMPORTS] = tracker = ImportTracker()
    services.probes.refreshers.append(tracker.publish)
    for page in PAGES + PAGES_OF_CAMPAIGNS:
        page.add_routes(app.router)
    app.router.add_static("/static", STATIC, name="console.static")
    app.on_cleanup.append(shutdown_imports)
    return app


def add_console(root: web.Application, services: Services, *, base_path: str = "/console") -> web.Application:
    """Mount the console on `root` at `base_path`, with `base_path` itself redirecting to the dashboard."""
    console = build_console_app(services, base_path=base_path)

    async def to_dashboard(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(base_path + "/")

    async def favicon(_request: web.Request) -> web.StreamResponse:
        # Browsers ask the site root for it on every page; a day's caching keeps that one request a day.
        return web.FileResponse(FAVICON, headers={"Cache-Control": "public, max-age=86400"})

    root.router.add_get(base_path, to_dashboard)
    root.router.add_get("/favicon.ico", favicon)
    root.add_subapp(base_path, console)
    return console
