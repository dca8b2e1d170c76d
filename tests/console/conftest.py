"""Fixtures of the console tests: the app mounted at /console, users, and signed-in clients."""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from base.clock import FakeClock
from base.settings import Settings
from console import add_console
from console.passwords import hash_password
from handlers.context import Services
from storage.console import create_user
from storage.db import Database

ADMIN_PASSWORD = "admin-password-1"
EDITOR_PASSWORD = "editor-password-1"
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@functools.cache
def _hash(password: str) -> str:
    # scrypt is slow on purpose; hash each test password once per run.
    return hash_password(password)


@pytest.fixture
def services(db: Database, settings: Settings, clock: FakeClock) -> Services:
    return Services(db=db, settings=settings.with_overrides(demo=True), clock=clock)


@pytest.fixture
def _mounted(services: Services) -> tuple[web.Application, web.Application]:
    root = web.Application()
    return root, add_console(root, services)


@pytest.fixture
def console_root(_mounted: tuple[web.Application, web.Application]) -> web.Application:
    """The main application with the console mounted at /console."""
    return _mounted[0]


@pytest.fixture
def console_app(_mounted: tuple[web.Application, web.Application]) -> web.Application:
    """The console sub-application itself (its import tracker, its settings)."""
    return _mounted[1]


# The behaviour tests read the console in English, as its messages are written; test_languages.py and
# the browser walk check what a user sees by default, in Simplified Chinese.
ENGLISH = {"Accept-Language": "en"}


@pytest.fixture
async def users(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as session:
        for name, role, password in (("alice", "admin", ADMIN_PASSWORD), ("eddie", "editor", EDITOR_PASSWORD)):
            await create_user(
                session, name=name, role=role, password_hash=_hash(password), now=clock.now(), locale="en"
            )


# The CSRF token of each signed-in test client's session.
_CSRF: weakref.WeakKeyDictionary[TestClient[Any, Any], str] = weakref.WeakKeyDictionary()


def csrf(client: TestClient[Any, Any]) -> str:
    """The CSRF token of a client signed in by the `admin` or `editor` fixture."""
    return _CSRF[client]


_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def sign_in(client: TestClient[Any, Any], name: str, password: str) -> str:
    """Sign in through the form like a browser; returns the session's CSRF token."""
    page = await client.get("/console/login")
    token = csrf_from(await page.text())
    answer = await client.post(
        "/console/login", data={"csrf_token": token, "name": name, "password": password, "next": "/console/"}
    )
    assert answer.status == 200, await answer.text()
    assert str(answer.url).endswith("/console/")
    return csrf_from(await answer.text())


@pytest.fixture
async def anonymous(aiohttp_client: Any, console_root: web.Application) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(console_root, headers=ENGLISH)
    return client


@pytest.fixture
async def admin(aiohttp_client: Any, console_root: web.Application, users: None) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(console_root, headers=ENGLISH)
    _CSRF[client] = await sign_in(client, "alice", ADMIN_PASSWORD)
    return client


@pytest.fixture
async def editor(aiohttp_client: Any, console_root: web.Application, users: None) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(console_root, headers=ENGLISH)
    _CSRF[client] = await sign_in(client, "eddie", EDITOR_PASSWORD)
    return client
