"""Nothing answers without a login, editors stay out of admin pages, forms need their CSRF token."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from console import build_console_app
from console.access import ADMIN, PUBLIC, required_role
from handlers.context import Services
from tests.console.conftest import csrf

# The only routes a stranger may reach: the sign-in form and the stylesheet/scripts.
PUBLIC_PATHS = {("GET", "/login"), ("POST", "/login"), ("HEAD", "/login")}


def console_routes(services: Services) -> list[tuple[str, str, object]]:
    """Every (method, path with sample parameters, handler) of the console app."""
    app = build_console_app(services)
    found: list[tuple[str, str, object]] = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        if "directory" in info:
            continue
        path = info.get("path") or info.get("formatter", "")
        path = re.sub(r"\{[^}]+\}", "1", path)
        found.append((route.method, path, route.handler))
    return found


def test_the_route_table_is_not_empty_and_only_login_is_public(services: Services) -> None:
    routes = console_routes(services)
    assert len(routes) > 10
    public = {(method, path) for method, path, handler in routes if required_role(handler) == PUBLIC}
    assert public <= PUBLIC_PATHS


async def test_no_route_answers_without_a_login(
    services: Services, anonymous: TestClient[Any, Any], users: None
) -> None:
    checked = 0
    for method, path, handler in console_routes(services):
        if required_role(handler) == PUBLIC or method == "HEAD":
            continue
        answer = await anonymous.request(method, "/console" + path, allow_redirects=False)
        assert answer.status in (302, 401), f"{method} {path} answered {answer.status} without a login"
        if answer.status == 302:
            assert answer.headers["Location"].startswith("/console/login")
        body = await answer.text()
        assert "Dashboard" not in body
        checked += 1
    assert checked > 10


async def test_an_editor_gets_403_on_every_admin_route(services: Services, editor: TestClient[Any, Any]) -> None:
    admin_routes = [(m, p) for m, p, h in console_routes(services) if required_role(h) == ADMIN and m != "HEAD"]
    assert any(path.startswith("/imports") for _m, path in admin_routes)
    assert any(path.startswith("/users") for _m, path in admin_routes)
    for method, path in admin_routes:
        answer = await editor.request(
            method,
            "/console" + path,
            headers={"X-CSRF-Token": csrf(editor)},
            allow_redirects=False,
        )
        assert answer.status == 403, f"editor reached {method} {path}: {answer.status}"


async def test_editor_navigation_hides_admin_pages(editor: TestClient[Any, Any]) -> None:
    html = await (await editor.get("/console/")).text()
    assert "/console/templates" in html
    assert "/console/imports" not in html
    assert "/console/users" not in html


async def test_a_form_without_its_csrf_token_is_refused(admin: TestClient[Any, Any]) -> None:
    form = {"name": "mallory", "role": "admin", "password": "long-password-1", "password_repeat": "long-password-1"}
    refused = await admin.post("/console/users", data=form, allow_redirects=False)
    assert refused.status == 403
    forged = await admin.post("/console/users", data={**form, "csrf_token": "forged"}, allow_redirects=False)
    assert forged.status == 403
    users_page = await (await admin.get("/console/users")).text()
    assert "mallory" not in users_page
    accepted = await admin.post(
        "/console/users",
        data={**form, "csrf_token": csrf(admin)},
        allow_redirects=False,
    )
    assert accepted.status == 302


async def test_a_json_post_needs_the_csrf_header(admin: TestClient[Any, Any]) -> None:
    refused = await admin.post("/console/logout", json={}, allow_redirects=False)
    assert refused.status == 403
    accepted = await admin.post(
        "/console/logout",
        json={},
        headers={"X-CSRF-Token": csrf(admin)},
        allow_redirects=False,
    )
    assert accepted.status == 302


async def test_pages_forbid_framing_and_outside_scripts(admin: TestClient[Any, Any]) -> None:
    answer = await admin.get("/console/")
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["Cache-Control"] == "no-store"
    html = await answer.text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html


@pytest.mark.parametrize("path", ["/console/static/console.css"])
async def test_static_assets_are_served_without_login(anonymous: TestClient[Any, Any], path: str) -> None:
    assert (await anonymous.get(path)).status == 200


async def test_mounting_redirects_the_bare_prefix(anonymous: TestClient[Any, Any]) -> None:
    answer = await anonymous.get("/console", allow_redirects=False)
    assert answer.status == 302 and answer.headers["Location"] == "/console/"


def test_base_path_is_checked(services: Services) -> None:
    with pytest.raises(ValueError, match="base_path"):
        build_console_app(services, base_path="console/")
    assert isinstance(build_console_app(services, base_path="/admin"), web.Application)
