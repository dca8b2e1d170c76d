"""Typed keys for what the console keeps on its application and on each request."""

from __future__ import annotations

from dataclasses import dataclass

import jinja2
from aiohttp import web

from handlers.context import Services


@dataclass(frozen=True)
class Viewer:
    """The signed-in person a request is made by."""

    user_id: int
    name: str
    role: str
    session_id: int
    csrf_token: str
    # The language the person reads the console in (base.i18n.LOCALES).
    locale: str = "zh_CN"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SERVICES = web.AppKey("console_services", Services)
# One template environment per language, each with that language's catalog and formatting filters.
JINJA = web.AppKey("console_jinja", dict[str, jinja2.Environment])
# The path the console is mounted at ("/console"): links and cookies are built from it.
BASE_PATH = web.AppKey("console_base_path", str)

VIEWER = web.RequestKey("console_viewer", Viewer)
# The language this answer is in (console.language.choose_language).
LOCALE = web.RequestKey("console_locale", str)
# Set once a handler has written its own audit entry, so the fallback entry is not written twice.
AUDITED = web.RequestKey("console_audited", bool)
