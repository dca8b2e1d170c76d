"""A Router owns handlers and their filters; the Dispatcher feeds events through middlewares into it.

    router = Router("menu")

    @router.on("event.click", key_is("BIND"))
    async def start_binding(event: ClickEvent, ctx: HandlerContext) -> Reply | None: ...

Handlers are tried in registration order, child routers after the parent's own handlers; the first whose
key matches and whose filters all pass wins. `"*"` matches every key (for fallbacks).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from handlers.context import HandlerContext
from storage.followers import FollowerRecord
from storage.group_commit import Write
from wechat.events import ClickEvent, Event, Inbound, TextMessage
from wechat.replies import Reply

Handler = Callable[[Any, HandlerContext], Awaitable[Reply | None]]
Filter = Callable[[Any, HandlerContext], bool | Awaitable[bool]]
# A middleware wraps the rest of the chain: `await call_next(event, ctx)` runs it.
CallNext = Callable[[Inbound, HandlerContext], Awaitable[Reply | None]]
Middleware = Callable[[Inbound, HandlerContext, CallNext], Awaitable[Reply | None]]


@runtime_checkable
class WritesWithClaim(Protocol):
    """A middleware whose write the transport may commit in the delivery's claim transaction; the row
    written then reaches it as `ctx.follower_record` (see handlers.middlewares.follower)."""

    def __call__(self, event: Inbound, ctx: HandlerContext, call_next: CallNext) -> Awaitable[Reply | None]: ...

    def write_with_claim(self, event: Inbound, appid: str, at: datetime) -> Write[FollowerRecord]: ...


@dataclass(frozen=True)
class Route:
    key: str
    handler: Handler
    filters: tuple[Filter, ...]

    def serves(self, key: str) -> bool:
        return self.key == "*" or self.key == key


# Bumped by every change to any router, so a parent notices a child's new route in its candidates.
_changes = 0


class Router:
    def __init__(self, name: str) -> None:
        self.name = name
        self._routes: list[Route] = []
        self._children: list[Router] = []
        # The routes that can serve each event key, in resolution order, as of change number `_seen`.
        self._by_key: dict[str, tuple[Route, ...]] = {}
        self._seen = -1

    def on(self, key: str, *filters: Filter) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            global _changes
            self._routes.append(Route(key, handler, filters))
            _changes += 1
            return handler

        return register

    def include(self, *routers: Router) -> None:
        global _changes
        self._children.extend(routers)
        _changes += 1

    def routes(self) -> Iterable[Route]:
        yield from self._routes
        for child in self._children:
            yield from child.routes()

    async def resolve(self, event: Inbound, ctx: HandlerContext) -> Route | None:
        # Every callback resolves: only the routes for its key are tried, and a filter that answers at
        # once is not wrapped in a coroutine (the routes' own order decides, as `routes()` gives it).
        for route in self._candidates(event.key):
            for check in route.filters:
                verdict = check(event, ctx)
                if inspect.isawaitable(verdict):
                    verdict = await verdict
                if not verdict:
                    break
            else:
                return route
        return None

    def _candidates(self, key: str) -> tuple[Route, ...]:
        if self._seen != _changes:
            self._by_key, self._seen = {}, _changes
        found = self._by_key.get(key)
        if found is None:
            found = self._by_key[key] = tuple(route for route in self.routes() if route.serves(key))
        return found


class Dispatcher:
    """Runs the middlewares in the order given (outermost first), then the first matching handler."""

    def __init__(self, router: Router, middlewares: Sequence[Middleware] = ()) -> None:
        self.router = router
        self.middlewares = tuple(middlewares)
        # Found once: an isinstance check against a runtime-checkable protocol is slow, and this runs for
        # every callback. The chain is fixed for the same reason, so it is also bound once.
        self._claim_writer = next((m for m in self.middlewares if isinstance(m, WritesWithClaim)), None)
        chain: CallNext = self._call_handler
        for middleware in reversed(self.middlewares):
            chain = _bind(middleware, chain)
        self._chain = chain

    def write_with_claim(self, event: Inbound, appid: str, at: datetime) -> Write[FollowerRecord] | None:
        """The write a middleware of this chain asks to be committed with the delivery's claim, if any."""
        if self._claim_writer is None:
            return None
        return self._claim_writer.write_with_claim(event, appid, at)

    async def _call_handler(self, event: Inbound, ctx: HandlerContext) -> Reply | None:
        route = await self.router.resolve(event, ctx)
        if route is None:
            return None
        ctx.handler = f"{route.handler.__module__}.{route.handler.__qualname__}"
        return await route.handler(event, ctx)

    async def feed(self, event: Inbound, ctx: HandlerContext) -> Reply | None:
        return await self._chain(event, ctx)


def _bind(middleware: Middleware, call_next: CallNext) -> CallNext:
    async def step(event: Inbound, ctx: HandlerContext) -> Reply | None:
        return await middleware(event, ctx, call_next)

    return step


# --- Filters -----------------------------------------------------------------------------------------


def _normalise(text: str) -> str:
    return text.strip().casefold()


def text_in(*words: str) -> Filter:
    """The text message is exactly one of `words` (case- and space-insensitive)."""
    wanted = frozenset(_normalise(w) for w in words)

    def check(event: Any, _ctx: HandlerContext) -> bool:
        return isinstance(event, TextMessage) and _normalise(event.content) in wanted

    return check


def text_matches(pattern: str) -> Filter:
    compiled = re.compile(pattern)

    def check(event: Any, _ctx: HandlerContext) -> bool:
        return isinstance(event, TextMessage) and compiled.search(event.content.strip()) is not None

    return check


def key_is(*keys: str) -> Filter:
    """The event's EventKey (menu key, scene) is one of `keys`."""
    wanted = frozenset(keys)

    def check(event: Any, _ctx: HandlerContext) -> bool:
        return isinstance(event, Event) and event.event_key in wanted

    return check


def is_click(event: Any, _ctx: HandlerContext) -> bool:
    return isinstance(event, ClickEvent)
