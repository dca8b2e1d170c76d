"""Finding the row a console URL names: `/console/templates/{template_id}` and the like; 404 otherwise."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from base.i18n import _

T = TypeVar("T")


def path_id(request: web.Request, name: str, not_found: str) -> int:
    """The whole-number id in the path segment `name`; a 404 saying `not_found` (an N_ message) otherwise."""
    try:
        return int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound(text=_(not_found)) from None


async def get_or_404(session: AsyncSession, model: type[T], request: web.Request, name: str, not_found: str) -> T:
    """The row of `model` whose id is in the path segment `name`, or a 404 saying `not_found`."""
    row: Any = await session.get(model, path_id(request, name, not_found))
    if row is None:
        raise web.HTTPNotFound(text=_(not_found))
    found: T = row
    return found
