"""The feature services the console uses, read from `services.extras` by name.

Each one is optional: a page whose service is absent says so and offers what it can without it.

| name                | used for                                  | needs                                      |
| ------------------- | ----------------------------------------- | ------------------------------------------ |
| `wechat_api`        | the official-account connection test      | `await check_connection(appid) -> dict`    |
| `account_directory` | forgetting a cached account after an edit | `forget(appid)`                            |
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from console.keys import SERVICES


def optional_service(request: web.Request, name: str, *required_methods: str) -> Any | None:
    """The service `name` if configured and offering `required_methods`, else None."""
    service = request.app[SERVICES].extras.get(name)
    if service is None:
        return None
    if not all(callable(getattr(service, method, None)) for method in required_methods):
        return None
    return service
