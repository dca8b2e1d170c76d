"""Profiles (masked for editors, full and audited for admins, export, erase), accounts and users."""

from __future__ import annotations

import json
import re
from typing import Any, cast

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlmodel import select

from base.clock import FakeClock
from console.keys import SERVICES
from storage.db import Database
from storage.models.console import ConsoleUser
from storage.models.core import Account, AuditEntry, Profile
from tests.console import seed
from tests.console.conftest import EDITOR_PASSWORD, csrf, csrf_from, sign_in
from wechat.api.client import WeChatAPI

PHONE = "+8613812345678"


def _form(client: TestClient[Any, Any], **fields: str) -> dict[str, str]:
    return {"csrf_token": csrf(client), **fields}


async def _actions(db: Database) -> list[str]:
    async with db.session() as session:
        return [entry.action for entry in (await session.exec(select(AuditEntry))).all()]


async def test_editor_sees_masked_phones_and_cannot_search_by_phone(
    editor: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    _follower, profile_id = await seed.person(db, clock.now(), openid="oEd1", phone=PHONE, name="韩梅梅", orders=2)
    by_phone = await (await editor.get("/console/profiles?q=13812345678")).text()
    assert "for admins" in by_phone
    by_name = await (await editor.get("/console/profiles?q=梅梅")).text()
    assert "138****5678" in by_name and "13812345678" not in by_name
    page = await (await editor.get(f"/console/profiles/{profile_id}")).text()
    assert '<dd id="profile-phone">138****5678</dd>' in page
    assert "13812345678" not in page and "Erase this person" not in page
    by_openid = await (await editor.get("/console/profiles?q=oEd1")).text()
    assert f"/console/profiles/{profile_id}" in by_openid


async def test_admin_sees_the_full_phone_and_the_reading_is_audited(
    admin: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    _follower, profile_id = await seed.person(db, clock.now(), openid="oAd1", phone=PHONE, orders=1)
    found = await (await admin.get("/console/profiles?q=138 1234 5678")).text()
    assert f"/console/profiles/{profile_id}" in found
    page = await (await admin.get(f"/console/profiles/{profile_id}")).text()
    assert f'<dd id="profile-phone">{PHONE}</dd>' in page
    assert "console.profile_viewed" in await _actions(db)
    landline = await (await admin.get("/console/profiles?q=02112345678")).text()
    assert "is not a mobile number that can key a profile (landline)" in landline


async def test_admin_exports_then_erases_a_person(admin: TestClient[Any, Any], db: Database, clock: FakeClock) -> None:
    _follower, profile_id = await seed.person(db, clock.now(), openid="oEr1", phone=PHONE, name="王五", orders=1)
    exported = await admin.post(f"/console/profiles/{profile_id}/export", data=_form(admin))
    assert exported.status == 200
    document = json.loads(await exported.read())
    assert document["phone"] == PHONE
    unconfirmed = await admin.post(f"/console/profiles/{profile_id}/erase", data=_form(admin, confirm="yes"))
    assert unconfirmed.status == 400
    erased = await admin.post(f"/console/profiles/{profile_id}/erase", data=_form(admin, confirm="ERASE"))
    assert erased.status == 200
    assert "The profile was erased" in await erased.text()
    async with db.session() as session:
        profile = await session.get(Profile, profile_id)
    assert profile is not None and profile.erased_at is not None and profile.name is None
    actions = await _actions(db)
    assert "console.profile_exported" in actions and "data.erased" in actions


async def test_accounts_are_validated_saved_and_tested(
    admin: TestClient[Any, Any], console_app: web.Application, db: Database
) -> None:
    bad = await admin.post("/console/accounts/new", data=_form(admin, appid="nope", token="x", aes_key="short"))
    assert bad.status == 400
    text = await bad.text()
    assert "AppID must look like" in text and "Token must be" in text and "EncodingAESKey" in text
    good = {
        "appid": "wxabcdef0123456789",
        "token": "tok123",
        "name": "旗舰店",
        "appsecret": "s3cret",
        "kind": "service",
    }
    assert (await admin.post("/console/accounts/new", data=_form(admin, **good), allow_redirects=False)).status == 302
    async with db.session() as session:
        account = (await session.exec(select(Account))).one()
    assert account.appsecret == "s3cret"
    listing = await (await admin.get("/console/accounts")).text()
    assert "s3cret" not in listing and "旗舰店" in listing
    # An edit with an empty secret keeps the stored one.
    edit = {**good, "appsecret": "", "name": "旗舰店2"}
    await admin.post(f"/console/accounts/{account.id}", data=_form(admin, **edit), allow_redirects=False)
    async with db.session() as session:
        account = (await session.exec(select(Account))).one()
    assert account.appsecret == "s3cret" and account.name == "旗舰店2"

    class FakeWeChat:
        async def check_connection(self, appid: str) -> dict[str, Any]:
            return {"appid": appid, "token_ok": True, "token_valid_until": "2026-01-05T04:00:00+00:00"}

    console_app[SERVICES].wechat_api = cast(WeChatAPI, FakeWeChat())
    tested = await (await admin.post(f"/console/accounts/{account.id}/test", data=_form(admin))).text()
    assert "wxabcdef0123456789: Connected." in tested
    assert "console.account_tested" in await _actions(db)


async def test_connection_test_reports_a_missing_client(
    admin: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    async with db.transaction() as session:
        session.add(Account(appid="wxabcdef0123456789", token="tok123", created_at=clock.now()))
    async with db.session() as session:
        account = (await session.exec(select(Account))).one()
    tested = await (await admin.post(f"/console/accounts/{account.id}/test", data=_form(admin))).text()
    assert "No WeChat API client is configured" in tested


async def test_admin_adds_an_editor_and_demoting_ends_sessions(
    admin: TestClient[Any, Any], editor: TestClient[Any, Any], db: Database, aiohttp_client: Any,
    console_root: web.Application,
) -> None:  # fmt: skip
    weak = await admin.post(
        "/console/users", data=_form(admin, name="newbie", role="editor", password="short", password_repeat="short")
    )
    assert weak.status == 400 and "at least 10 characters" in await weak.text()
    added = await admin.post(
        "/console/users",
        data=_form(admin, name="newbie", role="editor", password="long-enough-1", password_repeat="long-enough-1"),
        allow_redirects=False,
    )
    assert added.status == 302
    newcomer = await aiohttp_client(console_root)
    await sign_in(newcomer, "newbie", "long-enough-1")
    async with db.session() as session:
        eddie = (await session.exec(select(ConsoleUser).where(ConsoleUser.name == "eddie"))).one()
    assert (await editor.get("/console/", allow_redirects=False)).status == 200
    await admin.post(
        f"/console/users/{eddie.id}", data=_form(admin, role="editor", disabled="on"), allow_redirects=False
    )
    assert (await editor.get("/console/", allow_redirects=False)).status == 302
    # A disabled user cannot sign in again, even with the right password.
    again = await aiohttp_client(console_root)
    token = csrf_from(await (await again.get("/console/login")).text())
    refused = await again.post(
        "/console/login", data={"csrf_token": token, "name": "eddie", "password": EDITOR_PASSWORD}
    )
    assert refused.status == 401
    assert "console.user_added" in await _actions(db) and "console.user_updated" in await _actions(db)


async def test_an_admin_cannot_demote_themself(admin: TestClient[Any, Any], db: Database) -> None:
    async with db.session() as session:
        alice = (await session.exec(select(ConsoleUser).where(ConsoleUser.name == "alice"))).one()
    answer = await admin.post(f"/console/users/{alice.id}", data=_form(admin, role="editor"))
    assert answer.status == 400
    assert "cannot demote or disable yourself" in await answer.text()


async def test_the_add_user_form_starts_at_the_least_privilege(admin: TestClient[Any, Any], db: Database) -> None:
    page = await (await admin.get("/console/users")).text()
    add_form = page[page.index("Add a user") :]
    # Options carry the role code as their value and its name, in the reader's language, as their text.
    assert re.search(r'<select name="role">.*?<option value="editor" selected>editor</option>', add_form, re.S)
    assert '<option value="admin" selected>' not in add_form
    # A form posted without a role (a script, an old page) makes an editor too, never an admin.
    added = await admin.post(
        "/console/users",
        data=_form(admin, name="quiet", password="long-enough-1", password_repeat="long-enough-1"),
        allow_redirects=False,
    )
    assert added.status == 302
    async with db.session() as session:
        quiet = (await session.exec(select(ConsoleUser).where(ConsoleUser.name == "quiet"))).one()
    assert quiet.role == "editor"


async def test_a_wrong_erase_confirmation_answers_the_profile_page_with_the_error(
    admin: TestClient[Any, Any], db: Database, clock: FakeClock
) -> None:
    _follower, profile_id = await seed.person(db, clock.now(), openid="oEr2", phone=PHONE, name="赵六", orders=1)
    answer = await admin.post(f"/console/profiles/{profile_id}/erase", data=_form(admin, confirm="erase"))
    assert answer.status == 400
    assert answer.content_type == "text/html"
    html = await answer.text()
    assert 'class="topbar"' in html and "Sign out" in html  # inside the console's layout
    assert re.search(r'class="errors?"[^>]*>.*Type ERASE', html, re.S)
    assert "nothing was changed" in html
    assert "Erase this person" in html  # the form is there to try again
    async with db.session() as session:
        profile = await session.get(Profile, profile_id)
    assert profile is not None and profile.erased_at is None


async def test_the_connection_test_shows_china_time(admin: TestClient[Any, Any], console_app: web.Application) -> None:
    await admin.post(
        "/console/accounts/new", data=_form(admin, appid="wxabcdef0123456789", token="tok123"), allow_redirects=False
    )

    class FakeWeChat:
        async def check_connection(self, appid: str) -> dict[str, Any]:
            return {"appid": appid, "token_ok": True, "token_valid_until": "2026-01-05T04:00:00+00:00"}

    console_app[SERVICES].wechat_api = cast(WeChatAPI, FakeWeChat())
    page = await (await admin.get("/console/accounts")).text()
    account_id = re.search(r"/console/accounts/(\d+)/test", page)
    assert account_id is not None
    tested = await (await admin.post(f"/console/accounts/{account_id.group(1)}/test", data=_form(admin))).text()
    assert "Token valid until 2026-01-05 12:00 (China time)" in tested
    assert "04:00" not in tested and "+00:00" not in tested
