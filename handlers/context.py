"""What a handler receives besides the event: the account, the follower, a database session, services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrm.clock import Clock
from scrm.settings import Settings
from storage.db import Database
from storage.models.core import Account, Follower

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass
class Services:
    """Long-lived collaborators shared by all handlers; built once by the application.

    `extras` holds feature services by name (the WeChat API client, the SMS sender, the content store,
    the push dispatcher...), so the gateway does not need to know every feature.
    """

    db: Database
    settings: Settings
    clock: Clock
    extras: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        try:
            return self.extras[name]
        except KeyError:
            raise LookupError(f"service {name!r} is not configured") from None


@dataclass
class HandlerContext:
    """Per-delivery context. Middlewares fill it in, in their fixed order (see handlers.dispatch)."""

    services: Services
    account: Account
    session: AsyncSession | None = None
    follower: Follower | None = None
    # Conversation state of this follower (binding flow); set by the state middleware.
    state: Any = None
    # Work to run after the reply has been sent (e.g. delivering held pushes): never delays the reply.
    after_reply: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def clock(self) -> Clock:
        return self.services.clock

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def db(self) -> Database:
        return self.services.db

    def require_session(self) -> AsyncSession:
        if self.session is None:
            raise RuntimeError("no database session: the session middleware did not run")
        return self.session

    def require_follower(self) -> Follower:
        if self.follower is None:
            raise RuntimeError("no follower: the follower middleware did not run")
        return self.follower
