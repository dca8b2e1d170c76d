"""Jinja2 pages with autoescaping always on, in the language of the request.

Each language has its own environment with Jinja2's i18n extension and that language's catalog
installed (`install_gettext_translations`), and the formatting filters of console.formatting bound to
it: a template says `{{ _("Orders") }}`, `{{ moment|china_time }}`, `{{ fen|yuan }}`, `{{ count|number }}`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from base.i18n import HTML_LANG, LOCALES, N_, NATIVE_NAMES, _, load_translations
from console.engine_text import FILTERS as ENGINE_TEXT_FILTERS
from console.formatting import filters
from console.keys import BASE_PATH, JINJA, LOCALE, SERVICES, VIEWER
from console.labels import label_filter
from console.language import LOCALE_DIR
from console.security import CSRF_FIELD

TEMPLATES = Path(__file__).parent / "templates"

# Fixed messages shown after a redirect (`?notice=saved`): no user text is ever reflected this way.
NOTICES = {
    "saved": N_("Saved."),
    "published": N_("Published: new pushes use this version."),
    "enabled": N_("Journey enabled."),
    "disabled": N_("Journey disabled."),
    "draft_saved": N_("Draft saved: nothing changes until a version is published."),
    "journey_published": N_("Published: new runs follow this version; runs under way continue with it."),
    "erased": N_("The profile was erased."),
    "user_added": N_("User added."),
    "user_updated": N_("User updated."),
    "signed_out": N_("You are signed out."),
    "mass_scheduled": N_("Mass send planned."),
    "mass_cancelled": N_("Mass send cancelled."),
    "menu_published": N_("Menu published: followers see it now."),
    "segment_deleted": N_("The saved segment was deleted."),
    "channel_created": N_("Channel created: its QR code is ready."),
}


def build_environment(locale: str) -> jinja2.Environment:
    """The templates as one language shows them."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # newstyle: `_("… %(name)s", name=value)` escapes the value and fails loudly on a missing one.
    environment.install_gettext_translations(load_translations(LOCALE_DIR, locale), newstyle=True)  # type: ignore[attr-defined]
    environment.filters.update(filters(locale))
    environment.filters["label"] = label_filter
    # Reasons and findings the engine stores in English: `{{ push.reason|engine_text }}`, `{{ code|reject_reason }}`.
    environment.filters.update(ENGINE_TEXT_FILTERS)
    return environment


def build_environments() -> dict[str, jinja2.Environment]:
    return {locale: build_environment(locale) for locale in LOCALES}


def render_page(request: web.Request, page: str, /, *, status: int = 200, **context: Any) -> web.Response:
    """Render the page template `page` with the viewer, the base path, the CSRF field name and any notice."""
    viewer = request.get(VIEWER)
    base = request.app[BASE_PATH]
    locale = request[LOCALE]
    notice_key = request.query.get("notice", "")
    notice = _(NOTICES[notice_key]) if notice_key in NOTICES else ""
    html = (
        request.app[JINJA][locale]
        .get_template(page)
        .render(
            viewer=viewer,
            base=base,
            csrf_field=CSRF_FIELD,
            csrf_token=viewer.csrf_token if viewer else "",
            notice=notice,
            current_path=request.path,
            current_path_qs=request.path_qs,
            demo=request.app[SERVICES].settings.demo,
            locale=locale,
            html_lang=HTML_LANG[locale],
            languages=[(code, NATIVE_NAMES[code]) for code in LOCALES],
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def redirect(request: web.Request, path: str, notice: str = "") -> web.HTTPFound:
    """A redirect inside the console (path relative to its base), optionally with a fixed notice."""
    location = request.app[BASE_PATH] + path
    if notice:
        location += ("&" if "?" in location else "?") + f"notice={notice}"
    return web.HTTPFound(location)
