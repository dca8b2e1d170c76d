"""Who may call a handler: marks read by the authentication middleware.

Unmarked handlers need a signed-in editor or admin; `admin_only` needs an admin; `public` needs nobody
(only the login page and the stylesheet are public). `streams_multipart` lets an upload handler check
the CSRF token itself, as the first form field, instead of the middleware buffering the whole body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

EDITOR = "editor"
ADMIN = "admin"
PUBLIC = "public"
_ROLE_ATTRIBUTE = "_console_role"
_STREAMS_ATTRIBUTE = "_console_streams_multipart"


def admin_only(handler: H) -> H:
    """Only admins may call this handler; editors get 403."""
    setattr(handler, _ROLE_ATTRIBUTE, ADMIN)
    return handler


def public(handler: H) -> H:
    """Anyone may call this handler, signed in or not."""
    setattr(handler, _ROLE_ATTRIBUTE, PUBLIC)
    return handler


def streams_multipart(handler: H) -> H:
    """The handler reads its multipart body as a stream and checks the CSRF field itself."""
    setattr(handler, _STREAMS_ATTRIBUTE, True)
    return handler


def required_role(handler: object) -> str:
    return str(getattr(handler, _ROLE_ATTRIBUTE, EDITOR))


def checks_own_csrf(handler: object) -> bool:
    return bool(getattr(handler, _STREAMS_ATTRIBUTE, False))


def role_allows(role: str, required: str) -> bool:
    """Admins may do everything an editor may."""
    if required == PUBLIC:
        return True
    if required == ADMIN:
        return role == ADMIN
    return role in (ADMIN, EDITOR)
