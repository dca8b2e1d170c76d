"""Signing in and out, cookies, lock-out."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import select

from base.clock import FakeClock
from console.passwords import verify_password
from storage.console import IP_FAILURE_LIMIT, USER_FAILURE_LIMIT
from storage.db import Database
from storage.models.console import WebSession
from storage.models.core import AuditEntry
from tests.console.conftest import ADMIN_PASSWORD, csrf, csrf_from


async def _try(client: TestClient[Any, Any], name: str, password: str) -> Any:
    page = await client.get("/console/login")
    token = csrf_from(await page.text())
    return await client.post("/console/login", data={"csrf_token": token, "name": name, "password": password})


async def test_sign_in_sets_a_strict_session_cookie_and_stores_only_its_hash(
    anonymous: TestClient[Any, Any], users: None, db: Database
) -> None:
    page = await anonymous.get("/console/login")
    token = csrf_from(await page.text())
    answer = await anonymous.post(
        "/console/login",
        data={"csrf_token": token, "name": "alice", "password": ADMIN_PASSWORD},
        allow_redirects=False,
    )
    assert answer.status == 302
    cookie = answer.cookies["scrm_console"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/console"
    async with db.session() as session:
        stored = (await session.exec(select(WebSession))).one()
    assert stored.token_hash != cookie.value
    assert cookie.value not in stored.token_hash


async def test_secure_cookie_when_served_over_https(anonymous: TestClient[Any, Any], users: None) -> None:
    page = await anonymous.get("/console/login")
    token = csrf_from(await page.text())
    answer = await anonymous.post(
        "/console/login",
        data={"csrf_token": token, "name": "alice", "password": ADMIN_PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )
    assert answer.cookies["scrm_console"]["secure"]


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    anonymous: TestClient[Any, Any], users: None
) -> None:
    wrong = await _try(anonymous, "alice", "not-the-password")
    unknown = await _try(anonymous, "nobody", "not-the-password")
    assert wrong.status == unknown.status == 401
    assert "Wrong user name or password" in await wrong.text()
    assert "Wrong user name or password" in await unknown.text()


async def test_login_form_without_its_token_is_refused(anonymous: TestClient[Any, Any], users: None) -> None:
    answer = await anonymous.post("/console/login", data={"name": "alice", "password": ADMIN_PASSWORD})
    assert answer.status == 403
    assert "scrm_console" not in answer.cookies


async def test_five_failures_lock_the_user_for_fifteen_minutes(
    anonymous: TestClient[Any, Any], users: None, clock: FakeClock
) -> None:
    for _ in range(5):
        assert (await _try(anonymous, "alice", "guess-guess")).status == 401
    locked = await _try(anonymous, "alice", ADMIN_PASSWORD)
    assert locked.status == 429
    assert "Too many failed sign-ins" in await locked.text()
    clock.advance(minutes=14)
    assert (await _try(anonymous, "alice", ADMIN_PASSWORD)).status == 429
    clock.advance(minutes=2)
    assert (await _try(anonymous, "alice", ADMIN_PASSWORD)).status == 200


async def _forty_guesses_at_once(
    anonymous: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch, *, names: list[str]
) -> tuple[Counter[int], list[str]]:
    """Forty wrong passwords sent together, as a script would; the answers and the passwords checked."""
    checked: list[str] = []
    guard = threading.Lock()

    def counting_verify(password: str, stored: str) -> bool:
        with guard:
            checked.append(password)
        return verify_password(password, stored)

    # Counts the scrypt checks the login view runs (each is one guess actually tried).
    monkeypatch.setattr("console.views.login.verify_password", counting_verify)
    page = await anonymous.get("/console/login")
    token = csrf_from(await page.text())
    # Every request carries the same form token and ignores the cookies answered.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as script:

        async def guess(number: int) -> int:
            answer = await script.post(
                anonymous.make_url("/console/login"),
                data={"csrf_token": token, "name": names[number % len(names)], "password": f"guess-{number}"},
                headers={"Cookie": f"scrm_console_login={token}"},
                allow_redirects=False,
            )
            await answer.read()
            return answer.status

        statuses = Counter(await asyncio.gather(*(guess(number) for number in range(40))))
    return statuses, checked


@pytest.mark.concurrency
async def test_forty_guesses_at_once_for_one_user_check_only_five_passwords(
    anonymous: TestClient[Any, Any], users: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses, checked = await _forty_guesses_at_once(anonymous, monkeypatch, names=["alice"])
    assert len(checked) == USER_FAILURE_LIMIT
    assert statuses == {401: USER_FAILURE_LIMIT, 429: 40 - USER_FAILURE_LIMIT}
    # Still locked for the right password, whose check never runs.
    assert (await _try(anonymous, "alice", ADMIN_PASSWORD)).status == 429
    assert len(checked) == USER_FAILURE_LIMIT


@pytest.mark.concurrency
async def test_forty_guesses_at_once_over_many_names_from_one_address_check_only_ten(
    anonymous: TestClient[Any, Any], users: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    statuses, checked = await _forty_guesses_at_once(
        anonymous, monkeypatch, names=[f"user{number}" for number in range(40)]
    )
    assert len(checked) == IP_FAILURE_LIMIT
    assert statuses == {401: IP_FAILURE_LIMIT, 429: 40 - IP_FAILURE_LIMIT}


async def test_one_address_guessing_many_names_is_locked_out(anonymous: TestClient[Any, Any], users: None) -> None:
    for number in range(10):
        assert (await _try(anonymous, f"user{number}", "guess-guess")).status == 401
    # The right password of a real user, from the same address, is refused while locked.
    assert (await _try(anonymous, "alice", ADMIN_PASSWORD)).status == 429


async def test_logout_ends_the_session_on_the_server(admin: TestClient[Any, Any], db: Database) -> None:
    answer = await admin.post("/console/logout", data={"csrf_token": csrf(admin)})
    assert answer.status == 200
    assert "You are signed out" in await answer.text()
    again = await admin.get("/console/", allow_redirects=False)
    assert again.status == 302
    async with db.session() as session:
        actions = [entry.action for entry in (await session.exec(select(AuditEntry))).all()]
    assert "console.login" in actions and "console.logout" in actions


async def test_idle_session_expires(admin: TestClient[Any, Any], clock: FakeClock) -> None:
    assert (await admin.get("/console/", allow_redirects=False)).status == 200
    clock.advance(timedelta(hours=2, minutes=1))
    assert (await admin.get("/console/", allow_redirects=False)).status == 302


async def test_next_parameter_cannot_send_the_user_elsewhere(anonymous: TestClient[Any, Any], users: None) -> None:
    page = await anonymous.get("/console/login?next=//evil.example/x")
    token = csrf_from(await page.text())
    answer = await anonymous.post(
        "/console/login",
        data={"csrf_token": token, "name": "alice", "password": ADMIN_PASSWORD, "next": "https://evil.example/"},
        allow_redirects=False,
    )
    assert answer.headers["Location"] == "/console/"


async def test_signing_in_returns_to_the_page_asked_for(anonymous: TestClient[Any, Any], users: None) -> None:
    first = await anonymous.get("/console/deliveries?status=sent", allow_redirects=False)
    assert first.status == 302
    login = await anonymous.get(first.headers["Location"])
    html = await login.text()
    assert 'value="/console/deliveries?status=sent"' in html
    answer = await anonymous.post(
        "/console/login",
        data={
            "csrf_token": csrf_from(html),
            "name": "alice",
            "password": ADMIN_PASSWORD,
            "next": "/console/deliveries?status=sent",
        },
        allow_redirects=False,
    )
    assert answer.headers["Location"] == "/console/deliveries?status=sent"
