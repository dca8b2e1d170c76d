"""Audit entries for console actions, written in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from console.keys import AUDITED, SERVICES, VIEWER
from console.security import actor_name
from storage.models.core import AuditEntry


def audit(request: web.Request, session: AsyncSession, action: str, target: str = "", **detail: Any) -> AuditEntry:
    """Record `action` by the signed-in user (caller commits) and mark the request as audited."""
    viewer = request.get(VIEWER)
    entry = AuditEntry(
        at=request.app[SERVICES].clock.now(),
        actor=actor_name(viewer) if viewer is not None else "console:anonymous",
        action=action,
        target=target[:200],
        detail=detail,
    )
    session.add(entry)
    request[AUDITED] = True
    return entry
