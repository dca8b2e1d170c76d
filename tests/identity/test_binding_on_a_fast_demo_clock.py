"""A demo clock running 600 times faster still leaves a person the wall-clock minutes a code and a
conversation are meant to last: journeys run on demo time, a person types in real time."""

from __future__ import annotations

import logging
from typing import Any, cast

from base.clock import DemoClock, FakeClock
from base.settings import Settings
from gateway.app import build_gateway_app
from handlers.binding import binding_router
from handlers.context import Services
from handlers.default_router import build_default_dispatcher
from handlers.optout import optout_router
from identity import messages
from identity.services import build_identity_services
from identity.sms.sandbox import SandboxSmsSender
from storage.db import Database
from tests.identity.conftest import Chat, RecordingWeChatAPI
from tests.support.wechat import TestAccount
from wechat.api.client import WeChatAPI

PHONE = "13912345678"


async def test_a_code_typed_thirty_real_seconds_later_binds_on_a_600x_demo(
    db: Database, settings: Settings, aiohttp_client: Any
) -> None:
    wall = FakeClock()  # real time, moved by hand
    demo = DemoClock(speed=600, real=lambda: wall.now().timestamp())
    sms = SandboxSmsSender(demo, logging.getLogger("tests.sms"), reveal=True)
    api = RecordingWeChatAPI()
    identity = build_identity_services(db, settings, demo)
    services = Services(
        db=db,
        settings=settings,
        clock=demo,
        wechat_api=cast(WeChatAPI, api),
        conversations=identity.conversations,
        phone_vault=identity.phone_vault,
        sms_sender=sms,
        sms_outbox=sms,
    )
    client = await aiohttp_client(build_gateway_app(services, build_default_dispatcher(binding_router, optout_router)))
    chat = Chat(client, TestAccount.from_settings(settings), wall, api)  # signs with real time, as WeChat does
    await chat.say("o-fast", "绑定")
    await chat.say("o-fast", PHONE)
    code = str(sms.recent(1)[0]["code"])
    wall.advance(seconds=30)  # five demo hours
    answer = await chat.say("o-fast", code)
    assert answer.startswith(messages.PROVEN.split("{")[0]), answer
    await client.close()
