"""The simulator's HTML page (Jinja2, autoescaped) and its static files: no asset comes from the internet.

The page speaks Simplified Chinese unless the browser prefers English or the person chose a language
(`?lang=en`, kept in the `scrm_lang` cookie the console shares). The API's messages follow the same choice.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler
from jinja2 import Environment, FileSystemLoader

from base.i18n import (
    DEFAULT_LOCALE,
    HTML_LANG,
    LOCALES,
    N_,
    NATIVE_NAMES,
    _,
    load_translations,
    negotiate,
    normalise_locale,
    use_translations,
)
from sandbox.callbacks import SandboxAccount

HERE = Path(__file__).resolve().parent
LOCALE_DIR = HERE / "locale"
# Shared with the console (path "/"), so a person's choice follows them between the two pages.
LANGUAGE_COOKIE = "scrm_lang"
LOCALE = web.RequestKey("sandbox_locale", str)
_COOKIE_AGE = 365 * 24 * 3600
MODE_NAMES = {"plaintext": N_("plaintext"), "compatible": N_("compatible"), "safe": N_("safe (AES)")}


def _environment(locale: str) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, extensions=["jinja2.ext.i18n"]
    )
    environment.install_gettext_translations(load_translations(LOCALE_DIR, locale), newstyle=True)  # type: ignore[attr-defined]
    return environment


_templates = {locale: _environment(locale) for locale in LOCALES}


@web.middleware
async def choose_language(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The page's and the API's language: `?lang=`, the cookie, Accept-Language, then Simplified Chinese."""
    chosen = normalise_locale(request.query.get("lang"))
    request[LOCALE] = locale = (
        chosen
        or normalise_locale(request.cookies.get(LANGUAGE_COOKIE))
        or negotiate(request.headers.get("Accept-Language", ""))
        or DEFAULT_LOCALE
    )
    use_translations(load_translations(LOCALE_DIR, locale))
    response = await handler(request)
    if chosen is not None:
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=_COOKIE_AGE, path="/", samesite="Lax")
    return response


def script_texts() -> dict[str, str]:
    """What simulator.js shows, in the request's language; `{name}` marks where the script puts a value."""
    return {
        "no_followers": _("No follower yet: create one below."),
        "not_following_suffix": _(" (not following)"),
        "no_sms": _("No SMS sent yet."),
        "sms_to": _("%(time)s to %(phone)s") % {"time": "{time}", "phone": "{phone}"},
        "pick": _("Pick or create a follower"),
        "following": _("following"),
        "not_following": _("not following"),
        "real_speed": _("real speed"),
        "speed": _("%(speed)sx real speed") % {"speed": "{speed}"},
        "jumping": _("jumping ahead in %(seconds)s s") % {"seconds": "{seconds}"},
        "you": _("you"),
        "reply": _("reply"),
        "push": _("push"),
        "note": _("note"),
        "http_error": _("HTTP error %(status)s") % {"status": "{status}"},
    }


def page_routes(account: SandboxAccount) -> list[web.AbstractRouteDef]:
    """`/` (the page) and `/static/...`, relative to wherever the simulator is mounted."""

    async def page(request: web.Request) -> web.Response:
        locale = request[LOCALE]
        html = (
            _templates[locale]
            .get_template("simulator.html")
            .render(
                account=account,
                modes=account.modes,
                default_mode=account.default_mode,
                mode_names={mode: _(name) for mode, name in MODE_NAMES.items()},
                locale=locale,
                html_lang=HTML_LANG[locale],
                languages=[(code, NATIVE_NAMES[code]) for code in LOCALES],
                texts=script_texts(),
            )
        )
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    return [web.get("/", page), web.static("/static", HERE / "static")]
