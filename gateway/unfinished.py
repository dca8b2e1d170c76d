"""On shutdown, a request whose body is still arriving is refused (503) at once instead of held.

Once shutdown begins aiohttp reads nothing more from any connection (each is marked closing first, and
the bytes that still arrive are dropped), so a body unfinished by then can never finish. Its handler
used to wait in its read for all of aiohttp's `shutdown_timeout`, then was cancelled and its connection
closed without an answer, and the process could not exit meanwhile. Now, as shutdown begins, every such
body is cut: the handler's next read raises `BodyCutShort`, and the request is answered 503 with
`Connection: close`, which WeChat retries. Requests whose body has arrived are untouched; they finish
as before, and their after-reply work is drained (`gateway.app`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import StreamReader, web

log = logging.getLogger("scrm.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BodyCutShort(TimeoutError):
    """Raised by a request body's reads once shutdown has cut it short.

    A TimeoutError because aiohttp's lingering read (after an answer, it drains a body the handler left
    unread) ends quietly on one and closes the connection, where any other error is logged as unhandled.
    """


def refuse_unfinished_bodies(app: web.Application) -> None:
    """Answer 503 to `app`'s requests (every route, sub-applications too) whose body is unfinished when
    shutdown begins. Add it before any shutdown hook that waits."""
    arriving: set[StreamReader] = set()

    @web.middleware
    async def refuse_when_cut(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content.is_eof():  # the usual case: the whole body came with the headers
            return await handler(request)
        arriving.add(request.content)
        try:
            return await handler(request)
        except BodyCutShort:
            log.warning(
                "shutting down: refused %s %s, its body unfinished remote=%s",
                request.method,
                request.path,
                request.remote,
            )
            refusal = web.Response(status=503, text="shutting down; send it again", headers={"Retry-After": "1"})
            refusal.force_close()
            return refusal
        finally:
            arriving.discard(request.content)

    async def cut(_app: web.Application) -> None:
        for body in list(arriving):
            if not body.is_eof():
                body.set_exception(BodyCutShort())

    app.middlewares.append(refuse_when_cut)
    app.on_shutdown.append(cut)


__all__ = ["BodyCutShort", "refuse_unfinished_bodies"]
