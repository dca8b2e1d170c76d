"""The reply book: what the account answers to a follow, a keyword, a menu key or a QR scan.

Handlers ask the service `services.reply_book` (any object with the `ReplyBook` methods);
the content package provides one backed by editable content. `StaticReplyBook` is the built-in default
with plain Chinese answers, used when no reply book is configured. Whatever the book, a follower the
book has nothing for gets the one built-in help (`help_reply`): a follow as much as a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from handlers.context import HandlerContext
from storage.models.core import Follower
from wechat.replies import Reply, TextReply


@runtime_checkable
class ReplyBook(Protocol):
    """Where handlers look up canned replies; every method may return None for "nothing configured"."""

    async def welcome(self, appid: str, follower: Follower, scene: str | None) -> Reply | None: ...

    async def keyword(self, appid: str, text: str) -> Reply | None: ...

    async def keyword_match(self, appid: str, text: str) -> tuple[str, Reply | None] | None:
        """The keyword `text` matched and its reply (None: nothing matched)."""
        ...

    async def menu(self, appid: str, key: str) -> Reply | None: ...

    async def scan(self, appid: str, scene: str) -> Reply | None: ...

    async def help(self, appid: str) -> Reply | None: ...


DEFAULT_WELCOME = "感谢关注！回复「帮助」查看可以做什么，回复「绑定」绑定手机号，领取会员权益。"
DEFAULT_HELP = (
    "您可以回复以下关键词：\n「绑定」绑定手机号，同步会员与订单\n「退订」不再接收营销消息\n「帮助」查看本说明"
)
HELP_WORDS = frozenset({"帮助", "help", "?", "？", "菜单"})


def _normalise(text: str) -> str:
    return text.strip().casefold()


class StaticReplyBook:
    """A reply book from fixed mappings: keyword -> reply, menu key -> reply, scene -> reply."""

    def __init__(
        self,
        *,
        welcome_text: str = DEFAULT_WELCOME,
        help_text: str = DEFAULT_HELP,
        keywords: Mapping[str, Reply] | None = None,
        menus: Mapping[str, Reply] | None = None,
        scenes: Mapping[str, Reply] | None = None,
        scene_welcomes: Mapping[str, Reply] | None = None,
    ) -> None:
        self._welcome = TextReply(welcome_text)
        self._help = TextReply(help_text)
        self._keywords = {_normalise(word): reply for word, reply in (keywords or {}).items()}
        self._menus = dict(menus or {})
        self._scenes = dict(scenes or {})
        self._scene_welcomes = dict(scene_welcomes or {})

    async def welcome(self, appid: str, follower: Follower, scene: str | None) -> Reply | None:
        if scene is not None and scene in self._scene_welcomes:
            return self._scene_welcomes[scene]
        return self._welcome

    async def keyword(self, appid: str, text: str) -> Reply | None:
        matched = await self.keyword_match(appid, text)
        return matched[1] if matched is not None else None

    async def keyword_match(self, appid: str, text: str) -> tuple[str, Reply | None] | None:
        word = _normalise(text)
        if word in self._keywords:
            return word, self._keywords[word]
        if word in HELP_WORDS:
            return word, self._help
        return None

    async def menu(self, appid: str, key: str) -> Reply | None:
        return self._menus.get(key)

    async def scan(self, appid: str, scene: str) -> Reply | None:
        return self._scenes.get(scene)

    async def help(self, appid: str) -> Reply:
        return self._help


_BUILT_IN = StaticReplyBook()


def reply_book(ctx: HandlerContext) -> ReplyBook:
    """The configured reply book, or the built-in defaults."""
    book: ReplyBook = ctx.services.reply_book or _BUILT_IN
    return book


async def help_reply(ctx: HandlerContext) -> Reply:
    """The account's help, or the built-in `DEFAULT_HELP` when its book configures none."""
    reply = await reply_book(ctx).help(ctx.account.appid)
    return reply if reply is not None else TextReply(DEFAULT_HELP)


__all__ = [
    "DEFAULT_HELP",
    "DEFAULT_WELCOME",
    "HELP_WORDS",
    "ReplyBook",
    "StaticReplyBook",
    "help_reply",
    "reply_book",
]
