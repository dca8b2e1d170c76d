"""Tracked links of what we send: minted at send time, resolved at click time.

`LinkTracker.track` is the one function pushes (journeys' dispatcher), replies (the reply book) and mass
sends call on a rendered message: each declared link target becomes `<SCRM_PUBLIC_URL>/l/<token>`, one
token per delivery and link (base.link_tokens). `LinkTracker.resolve` reads a token back into the claim
and its target, from the immutable template version it names.
"""

from __future__ import annotations

from dataclasses import dataclass

from base.clock import Clock, real_clock
from base.link_tokens import LinkClaim, TokenInvalid, day_number, derive_key, mint, verify
from base.settings import Settings
from content.links import rewrite_links
from content.templates import RenderedMessage, TemplateBody, parse_body
from storage.db import Database
from storage.links import load_link_key, version_body

# Template versions whose declared links a process keeps (they never change once published).
_CACHE_SIZE = 4096


@dataclass(frozen=True)
class LinkTarget:
    """Where a tracked link leads, and whether its message was marketing (consent applies) or service."""

    url: str
    purpose: str


class UnknownLink(LookupError):
    """The token is well signed but names no declared link (a template version gone, an index beyond)."""


class LinkTracker:
    """Mints tracked links and resolves them; one per process, with the deployment's key."""

    def __init__(self, public_url: str, clock: Clock, db: Database | None = None, *, key: bytes | None = None) -> None:
        self.public_url = public_url.rstrip("/")
        # Links age in real time, whatever the demo clock does.
        self._clock = real_clock(clock)
        self._db = db
        self._key = key
        self._targets: dict[int, tuple[tuple[str, ...], str] | None] = {}
        # The demo's sandbox plays WeChat for every browser, so web authorization is asked of all of them.
        self.authorize_every_browser = False

    @classmethod
    def for_settings(cls, settings: Settings, clock: Clock, db: Database) -> LinkTracker:
        """The deployment's tracker: keyed from SCRM_DATA_KEY when set, else by a stored random key
        (read by `start`, since it takes the database)."""
        key = derive_key(settings.data_key) if settings.data_key else None
        return cls(settings.public_url, clock, db, key=key)

    async def start(self) -> None:
        """Read (or make) the stored key when no SCRM_DATA_KEY gave one; idempotent."""
        if self._key is None and self._db is not None:
            self._key = await load_link_key(self._db, self._clock.now())

    @property
    def enabled(self) -> bool:
        """Links are rewritten only when the gateway's public address and the key are known."""
        return bool(self.public_url) and self._key is not None

    def track(
        self,
        message: RenderedMessage,
        body: TemplateBody,
        *,
        kind: str,
        delivery_id: int,
        follower_id: int | None,
        version_id: int,
    ) -> RenderedMessage:
        """The message with its declared links replaced by tracked links of this delivery."""
        key = self._key
        if not self.public_url or key is None or not body.links:
            return message
        day = day_number(self._clock.now())

        def tracked(index: int) -> str:
            claim = LinkClaim(kind, delivery_id, follower_id or 0, version_id, index, day)
            return f"{self.public_url}/l/{mint(key, claim)}"

        return rewrite_links(message, body.links, tracked)[0]

    def verify(self, token: str) -> LinkClaim:
        """The claim of a token (raises base.link_tokens.TokenInvalid / TokenExpired)."""
        if self._key is None:
            raise TokenInvalid("the link key is not loaded")
        return verify(self._key, token, today=day_number(self._clock.now()))

    async def target(self, claim: LinkClaim) -> LinkTarget:
        """The declared target a claim leads to; raises UnknownLink."""
        if claim.version_id not in self._targets:
            if self._db is None:
                raise UnknownLink("no database to read the template version from")
            doc = await version_body(self._db, claim.version_id)
            if len(self._targets) >= _CACHE_SIZE:
                self._targets.clear()
            if doc is None:
                self._targets[claim.version_id] = None
            else:
                body = parse_body(doc)
                self._targets[claim.version_id] = (tuple(body.links), body.purpose)
        known = self._targets[claim.version_id]
        if known is None or claim.link >= len(known[0]):
            raise UnknownLink(f"template version {claim.version_id} declares no link {claim.link}")
        return LinkTarget(known[0][claim.link], known[1])
