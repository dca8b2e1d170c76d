"""Recording clicks on tracked links, in groups, with the privacy rules applied.

Who a click is counted for:
- the follower WeChat's web authorization named as the opener, if their marketing consent is in force
  (`via="authorized"`, `visitor="f:<id>"`, a `link_clicked` domain event on their timeline);
- nobody, when authorization named a follower without marketing consent in force: the click is counted
  for the link, with no identity and no visitor key (`via="untracked"`);
- the browser's random cookie when nobody authorized it (`via="browser"`): never the recipient the
  message went to, since a forwarded link looks the same.

Concurrent clicks share a transaction: each waits for its group's commit before its redirect, so a click
answered is a click recorded, and a burst costs one commit per group instead of one per click.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from base.link_tokens import LinkClaim
from publishing.links import LinkTarget
from storage.db import Database
from storage.links import FollowerState, insert_click, insert_click_event, marketing_consents, push_steps

log = logging.getLogger(__name__)
_MAX_GROUP = 256


@dataclass(frozen=True)
class Click:
    """One click as the gateway saw it."""

    claim: LinkClaim
    target: LinkTarget
    opener: FollowerState | None
    cookie: str
    at: datetime


class ClickRecorder:
    """Writes clicks in groups; `record` returns once the click's group is committed."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[tuple[Click, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, click: Click) -> bool:
        """Record a click; True when it counted (the first of this visitor on this delivery's link)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((click, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def close(self) -> None:
        """Wait for the clicks already queued (at shutdown)."""
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue[:_MAX_GROUP], self._queue[_MAX_GROUP:]
            try:
                counted = await self._write([click for click, _future in group])
            except Exception as error:
                # The follower still reaches the target: a lost click must not cost them the page.
                log.exception("clicks not recorded: %d lost", len(group))
                for _click, future in group:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_click, future), new in zip(group, counted, strict=True):
                if not future.done():
                    future.set_result(new)

    async def _write(self, clicks: Sequence[Click]) -> list[bool]:
        counted: list[bool] = []
        async with self._db.engine.begin() as conn:
            steps = await push_steps(conn, [c.claim.delivery_id for c in clicks if c.claim.kind == "p"])
            consents = await marketing_consents(conn, [c.opener.id for c in clicks if c.opener is not None])
            for click in clicks:
                is_push = click.claim.kind == "p"
                journey_id, step_key = steps.get(click.claim.delivery_id, (None, "")) if is_push else (None, "")
                opener = click.opener
                tracked = opener is not None and consents.get(opener.id, False)
                values = _click_values(click, journey_id, step_key, opener if tracked else None)
                if opener is not None and not tracked:
                    values.update(via="untracked", visitor=None)
                new = await insert_click(conn, self._db.is_postgres, values)
                counted.append(new)
                if new and tracked and opener is not None:
                    payload = {
                        "delivery": click.claim.delivery,
                        "delivery_id": click.claim.delivery_id,
                        "journey_id": journey_id,
                        "step": step_key,
                        "link": click.claim.link,
                        "target": click.target.url,
                        "template_version_id": click.claim.version_id,
                        "forwarded": values["forwarded"],
                    }
                    await insert_click_event(conn, follower=opener, at=click.at, payload=payload)
        return counted


def _click_values(click: Click, journey_id: int | None, step_key: str, opener: FollowerState | None) -> dict[str, Any]:
    claim = click.claim
    return {
        "delivery_kind": claim.delivery,
        "delivery_id": claim.delivery_id,
        "template_version_id": claim.version_id,
        "link_index": claim.link,
        "target": click.target.url[:1000],
        "follower_id": opener.id if opener else None,
        "profile_id": opener.profile_id if opener else None,
        "journey_id": journey_id,
        "step_key": step_key,
        "visitor": f"f:{opener.id}" if opener else f"c:{click.cookie}"[:64],
        "via": "authorized" if opener else "browser",
        # Only a follower authorization named can be told apart from the recipient.
        "forwarded": bool(opener and claim.follower_id and opener.id != claim.follower_id),
        "clicked_at": click.at,
    }
