"""HTTP to WeChat: one lazily created aiohttp session, JSON in UTF-8, transport failures made explicit.

The session is built for many small requests to one host: keep-alive connections (as many as the
callers' concurrency, `connection_limit`), no cookie jar (the API is stateless), and URLs whose query
string is encoded once here instead of being merged by aiohttp on every call.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from wechat.api.errors import WeChatNetworkError

_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
# Enough keep-alive connections for a dispatcher sending ~100 requests at once.
DEFAULT_CONNECTION_LIMIT = 100


def _encode(document: dict[str, Any]) -> bytes:
    # WeChat shows \uXXXX escapes literally in some APIs (menus, messages): send real UTF-8.
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Transport:
    """Sends requests to the WeChat API base URL and returns the decoded JSON object."""

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
    ):
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._connection_limit = connection_limit

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running event loop, as aiohttp requires.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._connection_limit, limit_per_host=self._connection_limit),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._owns_session = True
        return self._session

    def url(self, path: str, params: dict[str, str] | None) -> URL:
        """The full URL of `path` with `params` percent-encoded once (aiohttp re-encodes nothing)."""
        text = self.base_url + path
        if params:
            text += ("&" if "?" in text else "?") + urlencode(params)
        return URL(text, encoded=True)

    async def request(
        self,
        method: str,
        path: str,
        *,
        api: str,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Call `path` (e.g. "/cgi-bin/user/info"); raise WeChatNetworkError for anything but a JSON answer."""
        data = None if body is None else _encode(body)
        headers = _JSON_HEADERS if data is not None else None
        try:
            url = self.url(path, params)
        except ValueError as error:
            raise WeChatNetworkError(api, f"invalid WeChat API URL: {error}") from error
        try:
            async with self._client().request(method, url, data=data, headers=headers) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError:
            raise WeChatNetworkError(api, "timed out waiting for WeChat") from None
        except aiohttp.ClientError as error:
            raise WeChatNetworkError(api, f"could not reach WeChat: {error}") from error
        if status != 200:
            raise WeChatNetworkError(api, f"WeChat answered HTTP {status}")
        try:
            answer = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise WeChatNetworkError(api, f"WeChat answered something that is not JSON: {raw[:80]!r}") from None
        if not isinstance(answer, dict):
            raise WeChatNetworkError(api, "WeChat answered JSON that is not an object")
        return answer

    async def close(self) -> None:
        """Close the HTTP session if this transport created it."""
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()
        self._session = None
