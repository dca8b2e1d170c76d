"""Recording clicks on tracked links, in groups, with the privacy rules applied.

Who a click is counted for:
- the follower WeChat's web authorization named as the opener, if their marketing consent is in force
  (`via="authorized"`, `visitor="f:<id>"`, a `link_clicked` domain event on their timeline);
- nobody, when authorization named a follower without marketing consent in force: the click is counted
  for the link, with no identity and no visitor key (`via="untracked"`);
- the browser's random cookie when nobody authorized it (`via="browser"`): never the recipient the
  message went to, since a forwarded link looks the same.
A link sent to a person who was erased since is not recorded at all, and the gateway answers it 410.

Concurrent clicks share one transaction: each waits for its group's commit before its answer, so a click
answered is a click recorded, and a burst costs a few statements per group instead of several per click
(the followers a group names are read once, its clicks inserted by one statement).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from base.link_tokens import LinkClaim
from identity.erase import is_erased_follower
from storage.db import Database
from storage.events import NewEvent
from storage.links import ClickKey, FollowerState, GroupFacts, write_click_group

log = logging.getLogger(__name__)
_MAX_GROUP = 512
# counted: the first of this visitor on this link; again: a repeat; gone: the recipient was erased.
Outcome = Literal["counted", "again", "gone"]


@dataclass(frozen=True)
class Click:
    """One click as the gateway saw it."""

    claim: LinkClaim
    target: str
    opener: FollowerState | None
    cookie: str
    at: datetime


class ClickRecorder:
    """Writes clicks in groups; `record` returns once the click's group is committed."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[tuple[Click, asyncio.Future[Outcome]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, click: Click) -> Outcome:
        """Record a click (raises when its group could not be written)."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
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
                outcomes = await self._write([click for click, _future in group])
            except Exception as error:
                log.exception("clicks not recorded: %d lost", len(group))
                for _click, future in group:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_click, future), outcome in zip(group, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)

    async def _write(self, clicks: Sequence[Click]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        planned: list[tuple[int, dict[str, Any], FollowerState | None]] = []

        def plan(facts: GroupFacts) -> list[dict[str, Any]]:
            # Pure: it may run again when the shared transaction is retried, so it starts afresh.
            outcomes[:] = ["again"] * len(clicks)
            planned.clear()
            keys: set[tuple[Any, ...]] = set()
            for i, click in enumerate(clicks):
                if click.claim.follower_id:
                    recipient = facts.recipients.get(click.claim.follower_id)
                    if recipient is None or is_erased_follower(recipient.openid):
                        outcomes[i] = "gone"
                        continue
                is_push = click.claim.kind == "p"
                journey_id, step_key = facts.steps.get(click.claim.delivery_id, (None, "")) if is_push else (None, "")
                opener = click.opener
                tracked = opener if opener is not None and facts.consents.get(opener.id, False) else None
                values = _click_values(click, journey_id, step_key, tracked)
                if opener is not None and tracked is None:
                    values.update(via="untracked", visitor=None)
                key = _key(values)
                if values["visitor"] is not None and key in keys:
                    continue  # the same visitor twice in one group: the first counts
                keys.add(key)
                planned.append((i, values, tracked))
            return [values for _i, values, _tracked in planned]

        def events_for(inserted: set[ClickKey]) -> list[NewEvent]:
            events: list[NewEvent] = []
            for i, values, tracked in planned:
                if values["visitor"] is not None and _key(values) not in inserted:
                    continue
                outcomes[i] = "counted"
                if tracked is not None:
                    events.append(_event(clicks[i], values, tracked))
            return events

        await write_click_group(
            self._db,
            follower_ids=[c.claim.follower_id for c in clicks if c.claim.follower_id],
            push_ids=[c.claim.delivery_id for c in clicks if c.claim.kind == "p"],
            opener_ids=[c.opener.id for c in clicks if c.opener is not None],
            plan=plan,
            events_for=events_for,
        )
        return outcomes


def _key(values: dict[str, Any]) -> tuple[Any, ...]:
    return values["delivery_kind"], values["delivery_id"], values["link_index"], values["visitor"]


def _event(click: Click, values: dict[str, Any], follower: FollowerState) -> NewEvent:
    """The `link_clicked` domain event on the opener's timeline (journeys may react to it)."""
    payload = {
        "delivery": click.claim.delivery,
        "delivery_id": click.claim.delivery_id,
        "journey_id": values["journey_id"],
        "step": values["step_key"],
        "link": click.claim.link,
        "target": click.target,
        "template_version_id": click.claim.version_id,
        "forwarded": values["forwarded"],
    }
    return NewEvent(
        kind="link_clicked",
        occurred_at=click.at,
        appid=follower.appid,
        follower_id=follower.id,
        profile_id=follower.profile_id,
        payload=payload,
    )


def _click_values(click: Click, journey_id: int | None, step_key: str, opener: FollowerState | None) -> dict[str, Any]:
    claim = click.claim
    return {
        "delivery_kind": claim.delivery,
        "delivery_id": claim.delivery_id,
        "template_version_id": claim.version_id,
        "link_index": claim.link,
        "target": click.target[:1000],
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
