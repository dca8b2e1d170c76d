"""Everything journeys need at run time, built once per process from the application's Services."""

from __future__ import annotations

from dataclasses import dataclass

from base.clock import real_clock
from handlers.context import Services
from identity.unionids import UnionidFetcher
from journeys.adapters import ContentRenderer, WeChatSender
from journeys.dispatcher import DispatcherConfig, PushDispatcher
from journeys.enrolment import Enrolment
from journeys.mass_send import MassSender
from journeys.policy import DispatchPolicy
from journeys.wake import make_interaction_hook
from wechat.api.client import WeChatAPI


@dataclass
class JourneyRuntime:
    services: Services
    api: WeChatAPI
    dispatcher: PushDispatcher
    enrolment: Enrolment
    mass_sender: MassSender
    # True when this runtime created the API client (and must close it).
    owns_api: bool = False
    # Made on the first learn_unionids run and kept: it remembers where its last pass stopped.
    unionid_fetcher: UnionidFetcher | None = None

    async def close(self) -> None:
        if self.owns_api:
            await self.api.close()


def build_runtime(services: Services, config: DispatcherConfig | None = None) -> JourneyRuntime:
    """Wire the dispatcher, enrolment and mass sender; register the wake-on-interaction hook.

    Uses `services.wechat_api` when the application made one, else creates a client.
    """
    existing = services.wechat_api
    api = existing if existing is not None else WeChatAPI(services.settings, services.db, real_clock(services.clock))
    sender = WeChatSender(api)
    policy = DispatchPolicy.from_settings(services.settings)
    renderer = ContentRenderer(services.db, services.clock, links=services.link_tracker)
    dispatcher = PushDispatcher(services.db, sender, renderer, services.clock, policy, config)
    enrolment = Enrolment(services.db, services.clock, policy, attribution_days=services.settings.attribution_days)
    runtime = JourneyRuntime(
        services=services,
        api=api,
        dispatcher=dispatcher,
        enrolment=enrolment,
        mass_sender=MassSender(services.db, sender, services.clock, links=services.link_tracker),
        owns_api=existing is None,
    )
    services.interaction_hooks.append(make_interaction_hook(dispatcher))
    return runtime
