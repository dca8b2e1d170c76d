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

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SERVICES = web.AppKey("console_services", Services)
JINJA = web.AppKey("console_jinja", jinja2.Environment)
# The path the console is mounted at ("/console"): links and cookies are built from it.
BASE_PATH = web.AppKey("console_base_path", str)

VIEWER = web.RequestKey("console_viewer", Viewer)
# Set once a handler has written its own audit entry, so the fallback entry is not written twice.
AUDITED = web.RequestKey("console_audited", bool)
