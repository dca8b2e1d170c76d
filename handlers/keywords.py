"""Text messages: a configured keyword gets its reply; anything else gets the help text."""

from __future__ import annotations

from handlers.context import HandlerContext
from handlers.replybook import help_reply, reply_book
from handlers.router import Router
from wechat.events import TextMessage
from wechat.replies import Reply

keywords_router = Router("keywords")


@keywords_router.on("text")
async def answer_keyword(event: TextMessage, ctx: HandlerContext) -> Reply | None:
    """The keyword's reply from the reply book, or the help reply listing what the account understands."""
    matched = await reply_book(ctx).keyword_match(ctx.account.appid, event.content)
    if matched is not None and matched[1] is not None:
        keyword, reply = matched
        # On the timeline: which keyword this follower asked about (their words stay in the ledger only).
        ctx.record_signal(event, "keyword_replied", {"keyword": keyword[:64]})
        return reply
    return await help_reply(ctx)
