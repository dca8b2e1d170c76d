"""Sign in, sign out. Wrong names and wrong passwords get the same answer, in the same time."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlsplit

from aiohttp import web

from base.clock import real_clock
from base.i18n import _, normalise_locale
from console.access import public
from console.audit import audit
from console.formatting import TIME, china_time
from console.keys import BASE_PATH, LOCALE, SERVICES, VIEWER
from console.language import choose_language, remember_language
from console.passwords import dummy_hash, verify_password
from console.rendering import redirect, render_page
from console.security import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    client_ip,
    set_cookie,
    tokens_match,
)
from storage.console import (
    SESSION_ABSOLUTE,
    end_session,
    find_user,
    mark_attempt_succeeded,
    reserve_attempt,
    start_session,
)

_LOGIN_FORM_LIFETIME = 3600


def _safe_next(request: web.Request, target: str) -> str:
    """Only a path inside the console: never another host, never a scheme-relative `//evil`."""
    base = request.app[BASE_PATH]
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(base + "/") or target.startswith("//"):
        return base + "/"
    if target.startswith(base + "/login") or target.startswith(base + "/logout"):
        return base + "/"
    return target


def _login_form(request: web.Request, *, error: str = "", status: int = 200, name: str = "") -> web.Response:
    form_token = secrets.token_urlsafe(32)
    response = render_page(
        request,
        "login.html",
        status=status,
        error=error,
        name=name,
        login_token=form_token,
        next_path=_safe_next(request, request.query.get("next", "")),
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, form_token, max_age=_LOGIN_FORM_LIFETIME)
    return response


@public
async def login_page(request: web.Request) -> web.StreamResponse:
    if VIEWER in request:
        raise web.HTTPFound(request.app[BASE_PATH] + "/")
    chosen = normalise_locale(request.query.get("lang"))
    if chosen is None:
        return _login_form(request)
    # The login page's own selector (links, no session yet): this answer and the next ones in that language.
    choose_language(request, None, chosen)
    response = _login_form(request)
    remember_language(request, response, chosen)
    return response


@public
async def login_submit(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    form = await request.post()
    name = str(form.get("name", "")).strip()[:60]
    password = str(form.get("password", ""))
    if not tokens_match(str(form.get(CSRF_FIELD, "")), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return _login_form(request, error=_("The sign-in form expired. Please try again."), status=403, name=name)
    if not name or not password:
        return _login_form(request, error=_("Enter your user name and password."), status=400, name=name)
    ip = client_ip(request)
    # Sign-ins, lock-outs and sessions follow the wall clock: moving a demo clock ahead signs nobody out.
    now = real_clock(services.clock).now()
    # The attempt is recorded (as a failure) in the same turn that checks the lock-out, and committed
    # before scrypt runs: guesses sent at once cannot all pass a check none of them has counted yet.
    async with services.db.transaction() as session:
        reservation = await reserve_attempt(session, username=name, ip=ip, now=now)
        user = None if reservation.attempt_id is None else await find_user(session, name)
    if reservation.attempt_id is None:
        until = china_time(reservation.lockout.until, request[LOCALE], TIME)
        error = _("Too many failed sign-ins. Try again after %(time)s (China time).") % {"time": until}
        return _login_form(request, error=error, status=429, name=name)
    stored = user.password_hash if user is not None else dummy_hash()
    # scrypt takes tens of milliseconds of CPU: run it off the event loop.
    matches = await asyncio.to_thread(verify_password, password, stored)
    succeeded = matches and user is not None and not user.disabled
    async with services.db.transaction() as session:
        if not succeeded or user is None:
            audit(request, session, "console.login_failed", name, ip=ip)
        else:
            await mark_attempt_succeeded(session, reservation.attempt_id)
            user = await session.merge(user)
            token, _web_session = await start_session(session, user, ip=ip, now=now)
            audit(request, session, "console.login", name, ip=ip, role=user.role)
            locale = user.locale
    if not succeeded:
        return _login_form(request, error=_("Wrong user name or password."), status=401, name=name)
    response = web.HTTPFound(_safe_next(request, str(form.get("next", ""))))
    set_cookie(request, response, SESSION_COOKIE, token, max_age=int(SESSION_ABSOLUTE.total_seconds()))
    clear_cookie(request, response, LOGIN_CSRF_COOKIE)
    # The page after sign-in is in the user's language; the cookie keeps it for the login page and sandbox.
    remember_language(request, response, locale)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    viewer = request[VIEWER]
    async with services.db.transaction() as session:
        await end_session(session, viewer.session_id, now=real_clock(services.clock).now())
        audit(request, session, "console.logout", viewer.name)
    response = redirect(request, "/login", "signed_out")
    clear_cookie(request, response, SESSION_COOKIE)
    raise response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/login", login_page, name="login")
    router.add_post("/login", login_submit)
    router.add_post("/logout", logout, name="logout")
