"""The router the gateway runs by default, and the order its feature routers are tried in.

Feature routers given by the application (phone binding, opt-out...) are tried after the follow and
scan handlers but before menu clicks and keywords, so their words and menu keys win over the reply book.
The catch-all fallback is always last.
"""

from __future__ import annotations

from handlers.fallback import fallback_router, notices_router
from handlers.keywords import keywords_router
from handlers.menu import menu_router
from handlers.router import Dispatcher, Router
from handlers.scan import scan_router
from handlers.subscribe import subscribe_router
from handlers.unsubscribe import unsubscribe_router


def build_default_router(*feature_routers: Router) -> Router:
    """subscribe, unsubscribe, scan, notices, then `feature_routers`, then menu, keywords, fallback."""
    root = Router("default")
    root.include(subscribe_router, unsubscribe_router, scan_router, notices_router)
    root.include(*feature_routers)
    root.include(menu_router, keywords_router, fallback_router)
    return root


def build_default_dispatcher(*feature_routers: Router) -> Dispatcher:
    """The default router behind the standard middlewares (see handlers.middlewares for their order)."""
    from handlers.middlewares import DEFAULT_MIDDLEWARES

    return Dispatcher(build_default_router(*feature_routers), DEFAULT_MIDDLEWARES)


__all__ = ["build_default_dispatcher", "build_default_router"]
