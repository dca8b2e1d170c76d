"""The language selector in the header: the choice is stored on the user (and in the cookie the login
page and the sandbox read). Before sign-in the login page takes `?lang=` itself (views/login.py)."""

from __future__ import annotations

from aiohttp import web

from base.i18n import LOCALES, _, normalise_locale
from console.audit import audit
from console.keys import BASE_PATH, SERVICES, VIEWER
from console.language import remember_language
from storage.models.console import ConsoleUser


def _back(request: web.Request, target: str) -> str:
    """Back to the page the selector was on: a path inside the console, never elsewhere."""
    base = request.app[BASE_PATH]
    if target.startswith(base + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return base + "/"


async def change_language(request: web.Request) -> web.StreamResponse:
    """Store the chosen language on the signed-in user (the CSRF middleware has checked the form)."""
    form = await request.post()
    locale = normalise_locale(str(form.get("locale", "")))
    if locale is None:
        raise web.HTTPBadRequest(text=_("Choose a language: %(choices)s") % {"choices": ", ".join(LOCALES)})
    viewer = request[VIEWER]
    services = request.app[SERVICES]
    async with services.db.transaction() as session:
        user = await session.get(ConsoleUser, viewer.user_id)
        if user is not None:
            user.locale = locale
            session.add(user)
        audit(request, session, "console.language_changed", viewer.name, locale=locale)
    response = web.HTTPSeeOther(_back(request, str(form.get("next", ""))))
    remember_language(request, response, locale)
    raise response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/language", change_language, name="language")
