"""Fixtures for the gateway tests: services on the test database, a fake customer-service API, a client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from aiohttp.test_utils import TestClient

from base.clock import FakeClock
from base.settings import Settings
from gateway.app import build_gateway_app
from handlers.context import Services
from handlers.default_router import build_default_dispatcher
from handlers.router import Dispatcher
from storage.db import Database
from tests.support.wechat import TestAccount
from wechat.api.client import WeChatAPI

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


class RecordingWeChatAPI:
    """Stands in for the customer-service API seam: records every send, can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.failure: Exception | None = None

    async def send_custom_message(self, appid: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.failure is not None:
            raise self.failure
        self.sent.append((appid, payload))
        return {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def api() -> RecordingWeChatAPI:
    return RecordingWeChatAPI()


@pytest.fixture
def services(db: Database, settings: Settings, clock: FakeClock, api: RecordingWeChatAPI) -> Services:
    return Services(db=db, settings=settings, clock=clock, wechat_api=cast(WeChatAPI, api))


@pytest.fixture
def account(settings: Settings) -> TestAccount:
    return TestAccount.from_settings(settings)


@pytest.fixture
def now_ts(clock: FakeClock) -> int:
    return int(clock.now().timestamp())


@pytest.fixture
def make_client(services: Services, aiohttp_client: ClientFactory) -> Callable[..., Awaitable[TestClient[Any, Any]]]:
    """`await make_client(dispatcher=None)`: a test client on a gateway app over `services`.

    `services` comes first so the database outlives the app: the app's shutdown drain still writes to it.
    """

    async def make(dispatcher: Dispatcher | None = None) -> TestClient[Any, Any]:
        app = build_gateway_app(services, dispatcher or build_default_dispatcher())
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def client(make_client: Callable[..., Awaitable[TestClient[Any, Any]]]) -> TestClient[Any, Any]:
    return await make_client()
