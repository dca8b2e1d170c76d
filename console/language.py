"""Which language a console answer is in, and the selector that changes it.

A signed-in person reads the console in the language stored on their user (Simplified Chinese unless
they chose English). Before sign-in, the login page follows the language cookie (set by its own selector
and by every change of language), then the browser's Accept-Language, then Simplified Chinese.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from base.i18n import DEFAULT_LOCALE, LOCALES, load_translations, negotiate, normalise_locale, use_translations
from console.keys import LOCALE, Viewer

LOCALE_DIR = Path(__file__).parent / "locale"
# Shared with the sandbox page (path "/"), so a person's choice follows them between the two.
LANGUAGE_COOKIE = "scrm_lang"
# A year: the choice of language is a preference, not a credential.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600


def remember_language(request: web.Request, response: web.StreamResponse, locale: str) -> None:
    """Keep `locale` in the cookie the login page (after sign-out) and the sandbox page read."""
    secure = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    response.set_cookie(LANGUAGE_COOKIE, locale, max_age=LANGUAGE_COOKIE_AGE, path="/", samesite="Lax", secure=secure)


def locale_before_sign_in(request: web.Request) -> str:
    """The cookie's language, else the browser's, else the default."""
    return (
        normalise_locale(request.cookies.get(LANGUAGE_COOKIE))
        or negotiate(request.headers.get("Accept-Language", ""))
        or DEFAULT_LOCALE
    )


def choose_language(request: web.Request, viewer: Viewer | None, chosen: str | None = None) -> str:
    """Set the language of this request (and of the messages its handler produces); returns it.

    `chosen` (one of LOCALES) wins; then the viewer's; before sign-in, the cookie's or the browser's."""
    if chosen is not None:
        locale = chosen
    elif viewer is not None and viewer.locale in LOCALES:
        locale = viewer.locale
    else:
        locale = locale_before_sign_in(request)
    request[LOCALE] = locale
    use_translations(load_translations(LOCALE_DIR, locale))
    return locale
