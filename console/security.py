"""The console's middlewares, in a fixed order (outermost first):

1. `security_headers`: every answer forbids framing, sniffing and outside scripts (CSP), and pages
   behind the login are never cached.
2. `authenticate`: resolves the session cookie to a Viewer, chooses the answer's language (the
   viewer's, or the browser's before sign-in: console.language), sends strangers to the login page
   (or a 401 for scripts), and refuses a role that is too low with 403.
3. `require_csrf`: every state-changing request must carry the session's anti-forgery token, as the
   form field `csrf_token` or the `X-CSRF-Token` header.
4. `audit_writes`: a state-changing request that succeeded without writing its own audit entry gets a
   generic one, so no admin action goes unrecorded.
"""

from __future__ import annotations

import hmac
import json
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from base.clock import real_clock
from base.i18n import N_, _
from console.access import PUBLIC, checks_own_csrf, required_role, role_allows
from console.keys import AUDITED, BASE_PATH, SERVICES, VIEWER, Viewer
from console.language import choose_language
from storage.console import resume_session
from storage.models.core import AuditEntry

SESSION_COOKIE = "scrm_console"
LOGIN_CSRF_COOKIE = "scrm_console_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
EXPIRED_FORM = N_("The form has expired or did not come from this console. Reload it and try again.")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def client_ip(request: web.Request) -> str:
    """The peer address. Forwarded headers are not trusted: anyone could forge them to dodge lock-out."""
    return request.remote or "unknown"


def is_https(request: web.Request) -> bool:
    # The forwarded scheme only ever makes the cookie stricter, so trusting it here is harmless.
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, *, max_age: int) -> None:
    """A console cookie: HttpOnly, SameSite=Lax, scoped to the console path, Secure over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=request.app[BASE_PATH] or "/",
        httponly=True,
        samesite="Lax",
        secure=is_https(request),
    )


def clear_cookie(request: web.Request, response: web.StreamResponse, name: str) -> None:
    response.del_cookie(name, path=request.app[BASE_PATH] or "/")


def wants_json(request: web.Request) -> bool:
    return request.path.endswith(".json") or "application/json" in request.headers.get("Accept", "")


def tokens_match(given: str, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        response = error
        _decorate(request, response)
        raise
    _decorate(request, response)
    return response


def _decorate(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if VIEWER in request:
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _is_static(request):
        # The stylesheet and scripts are public and need no database work.
        return await handler(request)
    required = required_role(request.match_info.handler)
    services = request.app[SERVICES]
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        async with services.db.transaction() as session:
            found = await resume_session(session, token, now=real_clock(services.clock).now())
        if found is not None:
            web_session, user = found
            assert web_session.id is not None and user.id is not None
            request[VIEWER] = Viewer(user.id, user.name, user.role, web_session.id, web_session.csrf_token, user.locale)
    choose_language(request, request.get(VIEWER))
    if required == PUBLIC:
        return await handler(request)
    viewer = request.get(VIEWER)
    if viewer is None:
        if request.method == "GET" and not wants_json(request):
            target = quote(request.path_qs, safe="")
            raise web.HTTPFound(f"{request.app[BASE_PATH]}/login?next={target}")
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": _("sign in first")}, ensure_ascii=False), content_type="application/json"
        )
    if not role_allows(viewer.role, required):
        raise web.HTTPForbidden(text=_("This page is for admins only."))
    return await handler(request)


def _is_static(request: web.Request) -> bool:
    route = request.match_info.route
    return route.resource is not None and route.resource.name == "console.static"


@web.middleware
async def require_csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in SAFE_METHODS:
        return await handler(request)
    viewer = request.get(VIEWER)
    if viewer is None or required_role(request.match_info.handler) == PUBLIC:
        # Public handlers (the login form) check their own pre-session token.
        return await handler(request)
    given = request.headers.get(CSRF_HEADER, "")
    if not given:
        if request.content_type == "multipart/form-data" and checks_own_csrf(request.match_info.handler):
            return await handler(request)
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            field = form.get(CSRF_FIELD, "")
            given = field if isinstance(field, str) else ""
    if not tokens_match(given, viewer.csrf_token):
        raise web.HTTPForbidden(text=_(EXPIRED_FORM))
    return await handler(request)


@web.middleware
async def audit_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        # A redirect after a successful POST is raised, not returned: it still needs its entry.
        if error.status < 400:
            await _audit_fallback(request, error.status)
        raise
    if response.status < 400:
        await _audit_fallback(request, response.status)
    return response


async def _audit_fallback(request: web.Request, status: int) -> None:
    viewer = request.get(VIEWER)
    if request.method in SAFE_METHODS or viewer is None or request.get(AUDITED, False):
        return
    services = request.app[SERVICES]
    async with services.db.transaction() as session:
        session.add(
            AuditEntry(
                at=services.clock.now(),
                actor=actor_name(viewer),
                action=f"console.{request.method.lower()}",
                target=request.path[:200],
                detail={"status": status, "role": viewer.role},
            )
        )


def actor_name(viewer: Viewer) -> str:
    """How a console user appears in the audit log."""
    return f"console:{viewer.name}"
