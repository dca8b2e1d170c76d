"""Finding the row a console URL names: `/console/templates/{template_id}` and the like; 404 otherwise."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

T = TypeVar("T")


def path_id(request: web.Request, name: str, noun: str) -> int:
    """The whole-number id in the path segment `name`; a 404 "No such <noun>." when it is not one."""
    try:
        return int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound(text=f"No such {noun}.") from None


async def get_or_404(session: AsyncSession, model: type[T], request: web.Request, name: str, noun: str) -> T:
    """The row of `model` whose id is in the path segment `name`, or a 404."""
    row: Any = await session.get(model, path_id(request, name, noun))
    if row is None:
        raise web.HTTPNotFound(text=f"No such {noun}.")
    found: T = row
    return found
