"""Application wiring: one process serves the gateway, the console and (in demo mode) the sandbox,
and takes part in the scheduler-leader election that drives journeys."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from base.clock import Clock, real_clock
from base.metrics import metrics, set_outbox_backlog
from base.settings import Settings
from console.app import add_console
from gateway.app import add_gateway_routes
from handlers.binding import binding_router
from handlers.context import Services
from handlers.default_router import build_default_dispatcher
from handlers.optout import optout_router
from identity.services import build_identity_services, warn_if_unencrypted
from journeys.scheduler import SchedulerHandle, start_scheduler
from publishing.links import LinkTracker
from publishing.menu import published_menu
from publishing.replybook import ContentReplyBook
from sandbox.callbacks import SandboxAccount
from sandbox.fake_wechat import FakeWeChat
from sandbox.restore import restore_chats
from sandbox.simulator import ClockControl, add_sandbox_routes
from storage.backlogs import outbox_backlog, unprocessed_events
from storage.db import Database
from wechat.api.client import WeChatAPI

log = logging.getLogger("scrm.app")


async def publish_backlogs(db: Database, clock: Clock) -> None:
    """For /metrics: the outbox and the unprocessed domain events, as the database has them now."""
    set_outbox_backlog((await outbox_backlog(db, clock.now())).items())
    metrics().events_backlog.set(await unprocessed_events(db))


SCHEDULER_KEY = web.AppKey("scrm.scheduler", SchedulerHandle)
# Console uploads stream to disk themselves; this only bounds ordinary form posts.
MAX_FORM_BODY = 2 * 1024 * 1024


@dataclass(frozen=True)
class Sandbox:
    """The demo's in-process WeChat: a fake API mounted beside the gateway and the follower simulator."""

    fake: FakeWeChat
    public_origin: str
    # The demo clock the page shows and moves ahead (scrm.demo_clock.SharedDemoClock); None: real time.
    clock_control: ClockControl | None = None


def build_services(settings: Settings, db: Database, clock: Clock) -> Services:
    """Every long-lived collaborator the handlers, journeys and console use."""
    identity = build_identity_services(db, settings, clock)
    links = LinkTracker.for_settings(settings, clock, db)
    services = Services(
        db=db,
        settings=settings,
        clock=clock,
        # WeChat's tokens expire, and its quotas reset, in real time.
        wechat_api=WeChatAPI(settings, db, real_clock(clock)),
        reply_book=ContentReplyBook(db, clock, links=links),
        conversations=identity.conversations,
        phone_vault=identity.phone_vault,
        sms_sender=identity.sms_sender,
        sms_outbox=identity.sms_outbox,
        link_tracker=links,
    )
    services.probes.refreshers.append(lambda: publish_backlogs(db, clock))
    return services


def build_web_app(services: Services, *, sandbox: Sandbox | None = None, scheduler: bool = True) -> web.Application:
    """The whole HTTP surface: /wechat, /healthz, /readyz, /console, and /sandbox in demo mode."""
    app = web.Application(client_max_size=MAX_FORM_BODY)
    add_gateway_routes(app, services, build_default_dispatcher(binding_router, optout_router))
    add_console(app, services)
    if sandbox is not None:
        sandbox.fake.mount(app, "/fake-wechat", public_origin=sandbox.public_origin)
        add_sandbox_routes(
            app,
            gateway_url="/wechat",
            account=SandboxAccount.from_settings(services.settings),
            fake=sandbox.fake,
            clock=services.clock,
            sms_outbox=services.sms_outbox,
            clock_control=sandbox.clock_control,
            # The followers and chats of the last run come back from the database.
            history=lambda simulator: restore_chats(services.db, simulator),
            # The menu row shows what was last published through the menu API (console or `scrm menu`).
            menu=lambda: published_menu(services.db, SandboxAccount.from_settings(services.settings).appid),
        )

    async def home(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/console/")

    app.router.add_get("/", home)

    async def start_jobs(app: web.Application) -> None:
        warn_if_unencrypted(services.settings, log)
        if services.link_tracker is not None:
            await services.link_tracker.start()
        if scheduler:
            app[SCHEDULER_KEY] = await start_scheduler(services)

    async def stop_jobs(app: web.Application) -> None:
        handle = app.get(SCHEDULER_KEY)
        if handle is not None:
            await handle.stop()
        if services.wechat_api is not None:
            await services.wechat_api.close()

    app.on_startup.append(start_jobs)
    # Cleanup runs after in-flight requests and their after-reply work have finished.
    app.on_cleanup.append(stop_jobs)
    return app
