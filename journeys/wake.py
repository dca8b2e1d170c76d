"""Wake on interaction: a follower who writes, clicks, scans or follows opens a customer-service window,
so their held pushes are delivered right then, in order, within that window's count.

The gateway runs the hook after the reply went back (`services.interaction_hooks`), so the
delivery never delays the reply; a failure here is logged and the dispatcher's tick retries later.
"""

from __future__ import annotations

import logging

from base.metrics import count_pushes
from handlers.context import HandlerContext, InteractionHook
from journeys.dispatcher import PushDispatcher
from wechat.events import Inbound

log = logging.getLogger(__name__)


def make_interaction_hook(dispatcher: PushDispatcher) -> InteractionHook:
    """The hook to append to `services.interaction_hooks`."""

    async def deliver_held_pushes(ctx: HandlerContext, event: Inbound) -> None:
        # The id alone: building the follower's ORM object here would cost more than the lookup below.
        follower_id = ctx.follower_id
        if not event.is_interaction or follower_id is None:
            return
        record = ctx.follower_record
        if record is not None and not record.has_waiting_pushes:
            return  # the delivery's claim found nothing held or due for this follower
        try:
            report = await dispatcher.deliver_for_follower(follower_id)
        except Exception:
            # The reply is already gone; the dispatcher's periodic sweep requeues these pushes later.
            log.exception("delivering held pushes to follower %s after %s failed", follower_id, event.key)
            return
        count_pushes(report.as_dict())
        if report.claimed:
            log.info("follower %s interacted (%s): %s", follower_id, event.key, report.as_dict())

    return deliver_held_pushes
