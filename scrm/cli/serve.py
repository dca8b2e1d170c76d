"""`scrm serve` (a real official account) and `scrm demo` (everything on a laptop, with a sandbox)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from base.clock import Clock, DemoClock, DemoOffset, SystemClock
from base.settings import Settings, SettingsError, load_settings
from content.issues import ContentError
from publishing.publish import load_directory
from scrm.app import Sandbox, build_services, build_web_app
from scrm.cli.main import UsageError
from scrm.logs import configure_logging
from scrm.workers import bind_sockets, child_loop, freeze_startup_heap, serve_workers, serving_loop
from storage.db import Database
from storage.migrate import upgrade

# The demo's task publishing its seed menu to the sandbox once the server listens.
SEED_MENU: web.AppKey[asyncio.Task[None]] = web.AppKey("seed_menu", asyncio.Task)

log = logging.getLogger("scrm.serve")

# Seconds aiohttp waits on SIGTERM/SIGINT for handlers in progress before cancelling them. A callback
# answers within its reply deadline; one whose body is still arriving is refused at once
# (gateway.unfinished), so only a handler still busy after that makes the process wait this long.
SHUTDOWN_TIMEOUT = 10.0
# A demo day in under ten real seconds is as fast as the jobs (5-second ticks) can follow.
MAX_SPEED = 10_000.0


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser("serve", help="serve the WeChat callback gateway and the console")
    serve.add_argument("--host", help="bind address (default SCRM_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default SCRM_PORT or 8080)")
    serve.add_argument("--no-scheduler", action="store_true", help="never become the journeys scheduler leader")
    serve.add_argument(
        "--workers", type=int, default=1, help="serving processes sharing the port with SO_REUSEPORT (default 1)"
    )
    serve.set_defaults(run=_serve)
    serve.add_argument("--speed", type=float, help=argparse.SUPPRESS)
    demo = subparsers.add_parser("demo", help="run everything on this machine with a built-in WeChat sandbox")
    demo.add_argument("--host", help="bind address (default 127.0.0.1)")
    demo.add_argument("--port", type=int, help="port (default SCRM_PORT or 8080)")
    demo.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="demo seconds per real second (e.g. 600: a day in 2.4 minutes); the sandbox page also jumps a day ahead",
    )
    demo.add_argument(
        "--workers", type=int, default=1, help="serving processes sharing the port (default 1), as scrm serve"
    )
    demo.add_argument(
        "--fake-wechat-journal",
        type=Path,
        help="append every call the sandbox's fake WeChat API answers to this file (JSON lines, every worker)",
    )
    demo.set_defaults(run=_demo)


def _bind(settings: Settings, args: argparse.Namespace) -> Settings:
    changes: dict[str, Any] = {}
    if args.host:
        changes["host"] = args.host
    if args.port:
        if not 1 <= args.port <= 65535:
            raise ValueError("--port must be between 1 and 65535")
        changes["port"] = args.port
    return settings.with_overrides(**changes) if changes else settings


def _serve(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if args.speed is not None:
        # A real account's followers, WeChat and the orders all live in real time.
        raise UsageError("--speed is for `scrm demo` only: a real official account runs on the real clock")
    settings = _bind(load_settings(require_wechat=True), args)
    configure_logging(settings.log_level)
    upgrade(settings.database_url)
    if settings.content_dir:
        asyncio.run(_load_content(settings))

    def build_app() -> web.Application:
        # Built in the serving process itself: an engine, its connections and threads never cross a fork.
        db = Database(settings.database_url)
        services = build_services(settings, db, SystemClock())
        app = build_web_app(services, scheduler=not args.no_scheduler)

        async def close_db(_app: web.Application) -> None:
            await db.dispose()

        app.on_cleanup.append(close_db)
        return app

    log.info("serving WeChat callbacks on http://%s:%s/wechat", settings.host, settings.port)
    if args.workers == 1:
        app = build_app()
        freeze_startup_heap()
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            loop=serving_loop(),
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            print=None,
        )
        return 0

    def run_child(sock: socket.socket) -> None:
        app = build_app()
        freeze_startup_heap()
        web.run_app(
            app,
            sock=sock,
            loop=child_loop(),
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            print=None,
        )

    return serve_workers(run_child, bind_sockets(settings.host, settings.port, args.workers))


def _demo(args: argparse.Namespace) -> int:
    from scrm.demo import DEMO_ACCOUNT, publish_seed_menu, seed_demo

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if not 1 <= args.speed <= MAX_SPEED:
        raise UsageError(f"--speed must be between 1 and {MAX_SPEED:g} demo seconds per real second")
    base = load_settings()
    settings = _bind(base.with_overrides(demo=True, **DEMO_ACCOUNT), args)
    origin = f"http://{'127.0.0.1' if settings.host in ('0.0.0.0', '::') else settings.host}:{settings.port}"  # noqa: S104
    # The sandbox's links are this server's; its fake WeChat authorizes every browser (sandbox/links.py).
    settings = settings.with_overrides(
        wechat_api_base=f"{origin}/fake-wechat", public_url=settings.public_url or origin
    )
    configure_logging(settings.log_level)
    upgrade(settings.database_url)
    # Every process builds its demo clock from these same values; the jumps ahead come from the database.
    anchor, offset = time.time(), asyncio.run(_demo_offset(settings))
    clock = DemoClock(speed=args.speed, anchor=anchor, offset=offset)
    credentials = asyncio.run(_seed(Database(settings.database_url), settings, clock, seed_demo))
    # Made before the workers fork: their fakes of the WeChat API then accept each other's tokens.
    fake_key = secrets.token_bytes(16)

    def build_app() -> web.Application:
        from sandbox.fake_wechat import FakeWeChat
        from scrm.demo_clock import SharedDemoClock

        db = Database(settings.database_url)
        own_clock = DemoClock(speed=args.speed, anchor=anchor, offset=offset)
        shared = SharedDemoClock(db, own_clock)
        services = build_services(settings, db, own_clock)
        if services.link_tracker is not None:
            services.link_tracker.authorize_every_browser = True
        fake = FakeWeChat(clock=own_clock, journal=args.fake_wechat_journal, sibling_key=fake_key)
        app = build_web_app(services, sandbox=Sandbox(fake, origin, clock_control=shared))

        async def start_clock(_app: web.Application) -> None:
            shared.start()
            if services.wechat_api is not None:
                menu = publish_seed_menu(db, services.wechat_api, settings.wechat_appid, own_clock)
                _app[SEED_MENU] = asyncio.create_task(menu, name="publish the seed menu")

        async def close(_app: web.Application) -> None:
            await shared.stop()
            fake.close_journal()
            await db.dispose()

        app.on_startup.insert(0, start_clock)
        app.on_cleanup.append(close)
        return app

    database = "PostgreSQL" if settings.database_url.startswith("postgresql") else "SQLite"
    speed = "" if args.speed == 1 else f", demo clock {args.speed:g}x"
    workers = "" if args.workers == 1 else f", {args.workers} workers"
    print(
        f"\nSCRM Gateway demo ({database}, WeChat sandbox{speed}{workers}; nothing leaves this machine)\n"
        f"  follower simulator  {origin}/sandbox/\n"
        f"  admin console       {origin}/console/   {credentials}\n"
        f"  WeChat callback URL {origin}/wechat   (token {settings.wechat_token})\n"
        f"  database            {settings.database_url}\n"
        "Press Ctrl+C to stop.\n",
        flush=True,
    )
    try:
        if args.workers == 1:
            web.run_app(
                build_app(),
                host=settings.host,
                port=settings.port,
                loop=serving_loop(),
                shutdown_timeout=SHUTDOWN_TIMEOUT,
                print=None,
            )
            return 0

        def run_child(sock: socket.socket) -> None:
            web.run_app(
                build_app(),
                sock=sock,
                loop=child_loop(),
                handle_signals=False,
                shutdown_timeout=SHUTDOWN_TIMEOUT,
                print=None,
            )

        return serve_workers(run_child, bind_sockets(settings.host, settings.port, args.workers))
    finally:
        asyncio.run(_fold_speed(settings, clock))


async def _demo_offset(settings: Settings) -> DemoOffset:
    from scrm.demo_clock import starting_offset

    db = Database(settings.database_url)
    try:
        return await starting_offset(db)
    finally:
        await db.dispose()


async def _fold_speed(settings: Settings, clock: DemoClock) -> None:
    from scrm.demo_clock import fold_speed

    db = Database(settings.database_url)
    try:
        await fold_speed(db, clock)
    finally:
        await db.dispose()


async def _load_content(settings: Settings) -> None:
    """SCRM_CONTENT_DIR is loaded on start: changed templates get new versions, the rest is untouched."""
    db = Database(settings.database_url)
    try:
        report = await load_directory(db, Path(settings.content_dir), now=SystemClock().now(), by="scrm serve")
    except ContentError as error:
        raise SettingsError(f"SCRM_CONTENT_DIR {settings.content_dir}: {error}") from None
    finally:
        await db.dispose()
    for line in report.lines():
        log.info("content: %s", line)


async def _seed(db: Database, settings: Settings, clock: Clock, seed: Any) -> str:
    try:
        result: str = await seed(db, settings, clock)
        return result
    finally:
        await db.dispose()
