"""The console in Simplified Chinese by default and in English for who chooses it; catalogs complete."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from babel.messages.extract import extract_from_dir
from sqlmodel import select

from base.clock import FakeClock
from base.i18n import negotiate, normalise_locale
from console.formatting import china_time, money, number, percent
from storage.console import create_user
from storage.db import Database
from storage.models.console import ConsoleUser
from tests.console import seed
from tests.console.conftest import ADMIN_PASSWORD, _hash, csrf, sign_in
from tests.support.catalogs import CATALOG_DIRS, ROOT, catalog, english_patterns, shown_texts, untranslated

PACKAGES = tuple(CATALOG_DIRS)
# Words a Chinese page keeps as they are: the product's name and WeChat's own field names.
KEPT_AS_IS = {"SCRM", "Gateway", "AppID", "Token", "EncodingAESKey", "AppSecret", "openid", "v", "R", "F", "M"}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_message_has_a_chinese_translation(package: str) -> None:
    missing = [
        message.id
        for message in catalog(package, "zh_CN")
        if message.id
        and (message.fuzzy or not all(message.string if isinstance(message.string, tuple) else [message.string]))
    ]
    assert missing == []


@pytest.mark.parametrize("package", PACKAGES)
def test_the_catalogs_hold_exactly_the_messages_of_the_code(package: str) -> None:
    """A message added to the code but not to the catalogs (or left behind) fails here: run pybabel."""
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"trim_blocks": "True", "lstrip_blocks": "True"}}
    in_code = {found[2] for found in extract_from_dir(str(ROOT / package), method_map, options) if found[2]}
    for locale in ("zh_CN", "en"):
        assert {m.id for m in catalog(package, locale) if m.id} == in_code, locale


def _template_texts(path: Path) -> list[str]:
    source = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", path.read_text(encoding="utf-8"), flags=re.S)
    source = re.sub(r"<(script|style)\b.*?</\1>", " ", source, flags=re.S)
    texts = re.findall(r">([^<>]+)<", source)
    texts += re.findall(r'\s(?:placeholder|title|aria-label|alt)="([^"{]+)"', source)
    return texts


@pytest.mark.parametrize("template", sorted((ROOT / "console" / "templates").glob("*.html")) + sorted(
    (ROOT / "sandbox" / "templates").glob("*.html")), ids=lambda path: path.name)  # fmt: skip
def test_templates_have_no_words_outside_gettext(template: Path) -> None:
    words = {word for text in _template_texts(template) for word in re.findall(r"[A-Za-z]{2,}", text)}
    code_samples = {"scrm", "orders", "import", "platform", "generic", "mapping", "FILE", "content", "load", "DIR",
                    "users", "add", "NAME", "role", "editor"}  # fmt: skip
    assert words - KEPT_AS_IS - code_samples == set()


_UI_CALLS = {
    "append", "HTTPNotFound", "HTTPForbidden", "HTTPConflict", "HTTPBadRequest", "UploadError", "ActionError",
    "SearchError", "PasswordPolicyError",
}  # fmt: skip


@pytest.mark.parametrize("package", PACKAGES)
def test_python_messages_for_people_go_through_gettext(package: str) -> None:
    """Errors and problems shown on a page are built from a gettext call, never a bare literal."""
    bare = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in _UI_CALLS:
                continue
            arguments = [*node.args, *(k.value for k in node.keywords if k.arg in ("text", "message"))]
            if name == "append" and not (isinstance(node.func, ast.Attribute) and getattr(
                    node.func.value, "id", "") in ("errors", "problems")):  # fmt: skip
                continue
            for argument in arguments:
                if isinstance(argument, ast.JoinedStr) or (
                    isinstance(argument, ast.Constant) and isinstance(argument.value, str)
                ):
                    bare.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert bare == []


def test_the_untranslated_check_finds_english_left_on_a_page() -> None:
    """The page check below can fail: an English message among Chinese ones is found, placeholders too."""
    page = '<p>已保存。</p><td>Scheduler running in another process (host-1).</td><input placeholder="openid or name">'
    assert untranslated(page) == ["Scheduler running in another process (%(holder)s).", "openid or name"]
    assert untranslated("<p>暂无推送。</p><td>welcome</td>") == []
    assert english_patterns("console") and shown_texts("<b> a  b </b>") == ["a b"]


async def _chinese_admin(aiohttp_client: Any, console_root: web.Application, db: Database, clock: FakeClock) -> Any:
    async with db.transaction() as session:
        await create_user(session, name="wang", role="admin", password_hash=_hash(ADMIN_PASSWORD), now=clock.now())
    client = await aiohttp_client(console_root)
    await sign_in(client, "wang", ADMIN_PASSWORD)
    return client


async def _seeded_pages(db: Database, clock: FakeClock) -> list[str]:
    now = clock.now()
    template_id, journey_id = await seed.template_and_journey(db, now)
    follower_id, profile_id = await seed.person(db, now, openid="o1", phone="+8613800138000", name="王芳", orders=3)
    await seed.push(db, now, follower_id=follower_id, journey_id=journey_id, status="sent", profile_id=profile_id)
    await seed.push(db, now, follower_id=follower_id, journey_id=journey_id, status="held", reason="window closed")
    # Reasons the engine stores in English: the pages show them in Chinese (console/engine_text.py).
    for status, reason in (("skipped", "no marketing consent"), ("failed", "gave up after 5 attempts: quiet hours")):
        await seed.push(
            db, now, follower_id=follower_id, journey_id=journey_id, status=status, reason=reason,
            profile_id=profile_id,
        )  # fmt: skip
    await seed.run(db, now, journey_id=journey_id, follower_id=follower_id, profile_id=profile_id)
    await seed.run(
        db, now, journey_id=journey_id, follower_id=follower_id, profile_id=profile_id, state="exited",
        end_reason="the journey loops without a wait",
    )  # fmt: skip
    return [
        "/console/", "/console/templates", "/console/templates/new", f"/console/templates/{template_id}",
        f"/console/templates/{template_id}/versions", "/console/journeys", f"/console/journeys/{journey_id}",
        f"/console/journeys/{journey_id}?messages=1,soon&purchase=2,3&profile=x", "/console/deliveries",
        "/console/deliveries?status=nope&day_from=yesterday", "/console/profiles?q=王芳",
        "/console/profiles?q=13800138000", f"/console/profiles/{profile_id}", "/console/imports",
        "/console/accounts", "/console/accounts/new", "/console/users", "/console/?notice=saved",
    ]  # fmt: skip


async def test_every_page_reads_in_chinese_with_no_english_message_left(
    aiohttp_client: Any, console_root: web.Application, db: Database, clock: FakeClock
) -> None:
    pages = await _seeded_pages(db, clock)
    client = await _chinese_admin(aiohttp_client, console_root, db, clock)
    for path in pages:
        answer = await client.get(path)
        page = await answer.text()
        assert answer.status == 200, path
        assert '<html lang="zh-CN">' in page, path
        assert re.search(r"[\u4e00-\u9fff]", page), path
        assert untranslated(page) == [], path
    login = await (await aiohttp_client(console_root)).get("/console/login")
    page = await login.text()
    assert '<html lang="zh-CN">' in page and "登录控制台" in page and untranslated(page) == []


async def test_a_user_switches_to_english_and_back(
    aiohttp_client: Any, console_root: web.Application, db: Database, clock: FakeClock
) -> None:
    client = await _chinese_admin(aiohttp_client, console_root, db, clock)
    page = await (await client.get("/console/users")).text()
    assert "控制台用户" in page and 'lang="en">English</button>' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    answer = await client.post(
        "/console/language", data={"csrf_token": token.group(1), "locale": "en", "next": "/console/users"},
        allow_redirects=False,
    )  # fmt: skip
    assert answer.status == 303 and answer.headers["Location"] == "/console/users"
    assert answer.cookies["scrm_lang"].value == "en" and answer.cookies["scrm_lang"]["path"] == "/"
    english = await (await client.get("/console/users")).text()
    assert '<html lang="en">' in english and "Console users" in english
    async with db.session() as session:
        stored = (await session.exec(select(ConsoleUser).where(ConsoleUser.name == "wang"))).one()
    assert stored.locale == "en"
    # Somewhere else, the same page follows the user, whatever the browser says.
    other = await aiohttp_client(console_root, headers={"Accept-Language": "zh-CN"})
    await sign_in(other, "wang", ADMIN_PASSWORD)
    assert "Console users" in await (await other.get("/console/users")).text()
    # A language that is not offered changes nothing.
    refused = await client.post("/console/language", data={"csrf_token": token.group(1), "locale": "fr"})
    assert refused.status == 400


async def test_changing_the_language_needs_the_forms_token(admin: TestClient[Any, Any]) -> None:
    answer = await admin.post("/console/language", data={"locale": "zh_CN"}, allow_redirects=False)
    assert answer.status == 403
    answer = await admin.post(
        "/console/language", data={"csrf_token": csrf(admin), "locale": "zh_CN", "next": "https://evil.example/"},
        allow_redirects=False,
    )  # fmt: skip
    assert answer.status == 303 and answer.headers["Location"] == "/console/"


async def test_the_login_page_follows_the_browser_then_the_cookie(
    aiohttp_client: Any, console_root: web.Application
) -> None:
    english = await aiohttp_client(console_root, headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    page = await (await english.get("/console/login")).text()
    assert '<html lang="en">' in page and "Sign in to the console" in page
    chinese = await aiohttp_client(console_root, headers={"Accept-Language": "fr-FR, zh-TW;q=0.8"})
    assert "登录控制台" in await (await chinese.get("/console/login")).text()
    nobody = await aiohttp_client(console_root, headers={"Accept-Language": "fr, de;q=0.5"})
    assert '<html lang="zh-CN">' in await (await nobody.get("/console/login")).text()
    # The login page's own selector: English now, and remembered for the next visit.
    chosen = await chinese.get("/console/login?lang=en&next=/console/users")
    assert "Sign in to the console" in await chosen.text()
    assert chosen.cookies["scrm_lang"].value == "en"
    assert "Sign in to the console" in await (await chinese.get("/console/login")).text()


async def test_signing_in_remembers_the_users_language_for_the_login_page(
    aiohttp_client: Any, console_root: web.Application, db: Database, clock: FakeClock
) -> None:
    client = await _chinese_admin(aiohttp_client, console_root, db, clock)
    cookies = {cookie.key: cookie.value for cookie in client.session.cookie_jar}
    assert cookies["scrm_lang"] == "zh_CN"


def test_accept_language_and_locale_names() -> None:
    assert negotiate("en-US,en;q=0.9") == "en"
    assert negotiate("de;q=0.9, zh-Hans-CN;q=0.8, en;q=0.7") == "zh_CN"
    assert negotiate("en;q=0, zh;q=0.1") == "zh_CN"
    assert negotiate("fr, *;q=0.1") is None and negotiate("") is None and negotiate("en;q=bad") is None
    assert normalise_locale("zh-cn") == "zh_CN" and normalise_locale("EN") == "en" and normalise_locale("xx-!!") is None


def test_times_numbers_and_money_as_shown() -> None:
    moment = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    assert china_time(moment, "zh_CN") == "2027-01-01 00:30" == china_time(moment, "en")
    assert china_time(moment.replace(tzinfo=None), "zh_CN") == "2027-01-01 00:30"
    assert china_time(None, "en") == ""
    assert number(1234567, "zh_CN") == "1,234,567" == number(1234567, "en")
    assert money(123456789, "zh_CN") == "¥1,234,567.89" == money(123456789, "en")
    assert money(-5, "zh_CN") == "-¥0.05" and money(0, "en") == "¥0.00" and money(None, "en") == ""
    assert percent(1, 3, "zh_CN") == "33%" and percent(1, 0, "en") == "–"


async def test_the_connection_test_shows_china_time(
    admin: TestClient[Any, Any], console_app: web.Application, db: Database, clock: FakeClock
) -> None:
    from typing import cast

    from console.keys import SERVICES
    from storage.models.core import Account
    from wechat.api import WeChatAPI

    async with db.transaction() as session:
        session.add(Account(appid="wxabcdef0123456789", token="tok123", created_at=clock.now()))

    class FakeWeChat:
        async def check_connection(self, appid: str) -> dict[str, Any]:
            return {"appid": appid, "token_ok": True, "token_valid_until": "2026-01-05T04:00:00+00:00"}

    console_app[SERVICES].wechat_api = cast(WeChatAPI, FakeWeChat())
    async with db.session() as session:
        account = (await session.exec(select(Account))).one()
    tested = await (await admin.post(f"/console/accounts/{account.id}/test", data={"csrf_token": csrf(admin)})).text()
    assert "Token valid until 2026-01-05 12:00 (China time)." in tested
    assert "04:00" not in tested
