"""The reply book the handlers ask for automatic replies, backed by the loaded content.

Rules (reply_rules) and the published templates they name are cached per process. The cache reloads
when content is loaded in this process (content.cache) and at most `ttl` after a load elsewhere (another
process, `scrm content load`), so the 5-second callback never waits on more than one small query.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from base.clock import Clock
from content.cache import content_generation
from content.fields import build_render_context, empty_context
from content.replies import normalise_keyword
from content.sandbox import RenderError
from content.templates import TemplateBody, parse_body, render_body
from publishing.links import LinkTracker
from storage import content as store
from storage.db import Database
from storage.models.content import ReplyRule
from storage.models.core import Follower, Profile
from wechat.replies import Reply, TextReply

log = logging.getLogger(__name__)


@dataclass
class _Snapshot:
    rules: list[ReplyRule] = field(default_factory=list)
    bodies: dict[str, TemplateBody] = field(default_factory=dict)
    version_ids: dict[str, int] = field(default_factory=dict)
    loaded_at: datetime | None = None
    generation: int = -1
    # Per snapshot, filled as callbacks ask: the rules of (appid, kind), and each template rendered for
    # someone we know nothing about (keyword, menu, scan and help replies: the same text every time).
    by_kind: dict[tuple[str, str], list[ReplyRule]] = field(default_factory=dict)
    anonymous: dict[str, Reply | None] = field(default_factory=dict)
    # The keyword rules of an account, read once out of their rows: every text message asks.
    keywords: dict[str, _Keywords] = field(default_factory=dict)


@dataclass(frozen=True)
class _Keywords:
    exact: dict[str, ReplyRule]
    contains: tuple[tuple[str, ReplyRule], ...]


class ContentReplyBook:
    """Welcome, keyword, menu, scan and help replies from the content (see handlers.replybook)."""

    def __init__(
        self, db: Database, clock: Clock, *, ttl: timedelta = timedelta(seconds=30), links: LinkTracker | None = None
    ) -> None:
        self._db = db
        # Declared links of a reply become tracked links of its rule (and of the follower, when known).
        self._links = links
        self._clock = clock
        self._ttl = ttl
        self._snapshot = _Snapshot()
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Forget the cache: the next question reloads the rules."""
        self._snapshot = _Snapshot()

    async def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        now = self._clock.now()
        fresh = snapshot.loaded_at is not None and now - snapshot.loaded_at < self._ttl
        if fresh and snapshot.generation == content_generation():
            return snapshot
        async with self._lock:
            if self._snapshot is not snapshot:  # another task reloaded while we waited
                return self._snapshot
            generation = content_generation()
            async with self._db.session() as session:
                rules = list(await store.list_reply_rules(session))
                published = await store.published_versions(session)
            bodies = {}
            version_ids = {}
            for template, version in published:
                try:
                    bodies[template.name] = parse_body(version.body)
                except ValueError:
                    log.exception("template %s version %s cannot be read", template.name, version.version)
                if version.id is not None:
                    version_ids[template.name] = version.id
            self._snapshot = _Snapshot(rules, bodies, version_ids, now, generation)
            return self._snapshot

    def _rules(self, snapshot: _Snapshot, appid: str, kind: str) -> list[ReplyRule]:
        found = snapshot.by_kind.get((appid, kind))
        if found is None:
            # Rules of this account first, then those for every account; each by priority.
            mine = [rule for rule in snapshot.rules if rule.kind == kind and rule.appid == appid]
            shared = [rule for rule in snapshot.rules if rule.kind == kind and rule.appid == ""]
            found = snapshot.by_kind[(appid, kind)] = mine + shared
        return found

    def _render(
        self, snapshot: _Snapshot, rule: ReplyRule, follower: Follower | None, profile: Profile | None
    ) -> Reply | None:
        if follower is None and rule.template_name in snapshot.anonymous:
            return snapshot.anonymous[rule.template_name]
        body = snapshot.bodies.get(rule.template_name)
        if body is None:
            log.warning(
                "reply rule %s %r names template %s, which is not published",
                rule.kind,
                rule.match_key,
                rule.template_name,
            )
            return None
        context = build_render_context(follower, profile, None, self._clock.now()) if follower else empty_context()
        try:
            message = render_body(body, context)
            version_id = snapshot.version_ids.get(rule.template_name)
            if self._links is not None and rule.id is not None and version_id is not None:
                follower_id = follower.id if follower is not None else None
                message = self._links.track(
                    message, body, kind="r", delivery_id=rule.id, follower_id=follower_id, version_id=version_id
                )
            reply: Reply | None = message.reply
        except RenderError:
            log.exception("reply template %s cannot be rendered", rule.template_name)
            reply = None
        if follower is None:
            snapshot.anonymous[rule.template_name] = reply
        return reply

    def _first(self, rules: Sequence[ReplyRule], key: str) -> ReplyRule | None:
        return next((rule for rule in rules if rule.match_key == key), None)

    async def welcome(self, appid: str, follower: Follower, scene: str | None) -> Reply | None:
        """The welcome of a new follower: the scene's own welcome when the follow came by QR code."""
        snapshot = await self._current()
        rules = self._rules(snapshot, appid, "welcome")
        rule = (self._first(rules, scene) if scene else None) or self._first(rules, "")
        if rule is None:
            return None
        profile = None
        if follower.profile_id is not None:
            async with self._db.session() as session:
                profile = await session.get(Profile, follower.profile_id)
        return self._render(snapshot, rule, follower, profile)

    async def keyword(self, appid: str, text: str) -> Reply | None:
        """The reply to a text: an exact keyword first, then the first keyword the text contains."""
        matched = await self.keyword_match(appid, text)
        return matched[1] if matched is not None else None

    async def keyword_match(self, appid: str, text: str) -> tuple[str, Reply | None] | None:
        """The keyword a text matched (exact first, then contained) and its reply; None when none matched."""
        snapshot = await self._current()
        said = normalise_keyword(text)
        if not said:
            return None
        keywords = self._keywords(snapshot, appid)
        rule = keywords.exact.get(said)
        if rule is None:
            rule = next((rule for key, rule in keywords.contains if key in said), None)
        if rule is None:
            return None
        return rule.match_key, self._render(snapshot, rule, None, None)

    def _keywords(self, snapshot: _Snapshot, appid: str) -> _Keywords:
        found = snapshot.keywords.get(appid)
        if found is None:
            rules = self._rules(snapshot, appid, "keyword")
            exact: dict[str, ReplyRule] = {}
            for rule in rules:
                if rule.match_mode == "exact":
                    exact.setdefault(rule.match_key, rule)  # the first in order wins, as before
            contains = tuple((rule.match_key, rule) for rule in rules if rule.match_mode == "contains")
            found = snapshot.keywords[appid] = _Keywords(exact, contains)
        return found

    async def menu(self, appid: str, key: str) -> Reply | None:
        snapshot = await self._current()
        rule = self._first(self._rules(snapshot, appid, "menu"), key)
        return self._render(snapshot, rule, None, None) if rule else None

    async def scan(self, appid: str, scene: str) -> Reply | None:
        """The reply when a follower scans a channel QR code again."""
        snapshot = await self._current()
        rule = self._first(self._rules(snapshot, appid, "scan"), scene)
        return self._render(snapshot, rule, None, None) if rule else None

    async def help(self, appid: str) -> Reply | None:
        """The help template, else a list of the keywords the account answers; None when the content has
        neither, and the handlers answer the one built-in help (handlers.replybook.help_reply)."""
        snapshot = await self._current()
        rule = self._first(self._rules(snapshot, appid, "help"), "")
        reply = self._render(snapshot, rule, None, None) if rule else None
        if reply is not None:
            return reply
        words = [r.match_key for r in self._rules(snapshot, appid, "keyword")][:8]
        if words:
            return TextReply("您可以回复以下关键词：" + "、".join(words))
        return None
