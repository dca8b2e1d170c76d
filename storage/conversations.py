"""Conversation state per follower, held under a per-follower lock that works across processes.

    async with store.lock(appid, openid) as state:
        state.flow, state.step = "bind", "phone"

The lock is an asyncio lock per follower inside the process plus the follower's row in
`conversation_states` across processes: either a short lease on the row (the default: the store uses its
own short transactions), or, when the caller passes its session, the row itself, written at once so the
database holds it until the caller commits (PostgreSQL row lock; SQLite's single writer). The second form
is for callers that already write in an open transaction: on SQLite a second connection would wait for
that transaction forever.

State expires 10 minutes after the last step; an expired flow is reported once through `timed_out_flow`.

Most messages come from followers in no conversation at all. A caller that already knows that (the
gateway reads it with the delivery's claim, `FollowerRecord.in_conversation`) passes `idle=True`: no
lease is taken and nothing is written unless the handler starts a flow, which is then stored only if
the row is still idle (`_start_flow`). The hint is ignored while another delivery of the same follower
holds the process's lock, since that one may be starting a flow right now.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import Clock
from storage.db import Database
from storage.models.identity import ConversationRow

STATE_TTL = timedelta(minutes=10)
# A lease longer than any one delivery; a crashed holder frees the follower after this.
LEASE = timedelta(seconds=30)


class ConversationBusy(RuntimeError):
    """Another process held this follower's conversation for longer than the caller may wait."""


@dataclass
class ConversationState:
    """What a follower is in the middle of. Mutate it inside `store.lock(...)`; it is saved on exit."""

    appid: str
    openid: str
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None
    # The flow that had expired when this state was loaded (reported once, then forgotten).
    timed_out_flow: str | None = None

    def start(self, flow: str, step: str, **data: Any) -> None:
        """Begin (or restart) a flow at `step`, dropping whatever was under way."""
        self.flow, self.step, self.data = flow, step, dict(data)

    def goto(self, step: str, **data: Any) -> None:
        """Move to another step of the current flow, adding to its data."""
        self.step = step
        self.data.update(data)

    def clear(self) -> None:
        """Leave the flow (done, cancelled)."""
        self.flow, self.step, self.data, self.expires_at = None, None, {}, None

    def in_flow(self, flow: str) -> bool:
        return self.flow == flow


class ConversationStore:
    """Loads and saves `ConversationState` under a per-follower lock (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        ttl: timedelta = STATE_TTL,
        wait_seconds: float = 4.0,
        poll_seconds: float = 0.05,
    ) -> None:
        self._db = db
        self._clock = clock
        self._ttl = ttl
        self._wait_seconds = wait_seconds
        self._poll_seconds = poll_seconds
        self._local: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        self._owner_prefix = secrets.token_hex(6)

    def _local_lock(self, appid: str, openid: str) -> asyncio.Lock:
        key = (appid, openid)
        lock = self._local.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._local[key] = lock
        return lock

    @asynccontextmanager
    async def lock(
        self, appid: str, openid: str, *, session: AsyncSession | None = None, idle: bool = False
    ) -> AsyncIterator[ConversationState]:
        """Hold the follower's conversation and yield its state; saved when the block exits normally.

        `idle=True` says the caller read, moments ago, that no flow is stored (see the module docstring).
        """
        local = self._local_lock(appid, openid)
        if idle and session is None and not local.locked():
            async with local:
                state = ConversationState(appid, openid)
                yield state
                if state.flow is not None:
                    await self._start_flow(appid, openid, state)
            return
        async with local:
            owner = f"{self._owner_prefix}-{secrets.token_hex(4)}"
            if session is None:
                row = await self._acquire_lease(appid, openid, owner)
                saved = False
                try:
                    state = self._to_state(row)
                    yield state
                    async with self._db.transaction() as own:
                        await self._save(own, appid, openid, state, owner)
                    saved = True
                finally:
                    # The save lets go of the lease in its own write; only a block or save that failed
                    # leaves it to be let go here (one write transaction fewer per conversation message).
                    if not saved:
                        await self._release_lease(appid, openid, owner)
            else:
                row = await self._hold_in_session(session, appid, openid, owner)
                state = self._to_state(row)
                yield state
                await self._save(session, appid, openid, state, None)
                await session.flush()

    async def peek(self, appid: str, openid: str) -> ConversationState:
        """The state as stored, without taking the lock (for views and tests)."""
        async with self._db.session() as session:
            row = await self._find(session, appid, openid)
        if row is None:
            return ConversationState(appid, openid)
        return self._to_state(row)

    # --- loading and saving ----------------------------------------------------------------------------

    def _to_state(self, row: ConversationRow) -> ConversationState:
        state = ConversationState(row.appid, row.openid, row.flow, row.step, dict(row.data or {}), row.expires_at)
        if state.flow is not None and state.expires_at is not None and state.expires_at <= self._clock.now():
            timed_out = state.flow
            state.clear()
            state.timed_out_flow = timed_out
        return state

    async def _save(
        self, session: AsyncSession, appid: str, openid: str, state: ConversationState, owner: str | None
    ) -> None:
        now = self._clock.now()
        expires = now + self._ttl if state.flow is not None else None
        statement = (
            update(ConversationRow)
            .where(col(ConversationRow.appid) == appid, col(ConversationRow.openid) == openid)
            .values(
                flow=state.flow,
                step=state.step if state.flow is not None else None,
                data=state.data if state.flow is not None else {},
                expires_at=expires,
                lock_owner=None,
                lock_until=None,
                updated_at=now,
            )
        )
        if owner is not None:
            # Never overwrite a row another process took over after our lease ran out.
            statement = statement.where(col(ConversationRow.lock_owner) == owner)
        await session.exec(statement)
        state.expires_at = expires

    async def _start_flow(self, appid: str, openid: str, state: ConversationState) -> None:
        """Store a flow begun from an idle state, unless another process began one meanwhile."""
        await self._ensure_row(appid, openid)
        now = self._clock.now()
        async with self._db.transaction() as session:
            started = await session.exec(
                update(ConversationRow)
                .where(
                    col(ConversationRow.appid) == appid,
                    col(ConversationRow.openid) == openid,
                    or_(col(ConversationRow.flow).is_(None), col(ConversationRow.expires_at) <= now),
                    or_(col(ConversationRow.lock_owner).is_(None), col(ConversationRow.lock_until) <= now),
                )
                .values(
                    flow=state.flow,
                    step=state.step,
                    data=state.data,
                    expires_at=now + self._ttl,
                    lock_owner=None,
                    lock_until=None,
                    updated_at=now,
                )
            )
        if started.rowcount != 1:
            raise ConversationBusy(f"conversation of {openid} was started by another delivery meanwhile")
        state.expires_at = now + self._ttl

    @staticmethod
    async def _find(session: AsyncSession, appid: str, openid: str) -> ConversationRow | None:
        statement = select(ConversationRow).where(ConversationRow.appid == appid, ConversationRow.openid == openid)
        return (await session.exec(statement)).first()

    async def _ensure_row(self, appid: str, openid: str) -> None:
        async with self._db.session() as session:
            if await self._find(session, appid, openid) is not None:
                return
            session.add(ConversationRow(appid=appid, openid=openid, updated_at=self._clock.now()))
            try:
                await session.commit()
            except IntegrityError:
                # Another process created it first: that row is as good as ours.
                await session.rollback()

    # --- lease (own transactions) ----------------------------------------------------------------------

    async def _acquire_lease(self, appid: str, openid: str, owner: str) -> ConversationRow:
        await self._ensure_row(appid, openid)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._wait_seconds
        while True:
            now = self._clock.now()
            vanished = False
            async with self._db.transaction() as session:
                result = await session.exec(
                    update(ConversationRow)
                    .where(
                        col(ConversationRow.appid) == appid,
                        col(ConversationRow.openid) == openid,
                        or_(col(ConversationRow.lock_owner).is_(None), col(ConversationRow.lock_until) <= now),
                    )
                    .values(lock_owner=owner, lock_until=now + LEASE)
                )
                if result.rowcount == 1:
                    row = await self._find(session, appid, openid)
                    if row is not None:
                        return row
                vanished = await self._find(session, appid, openid) is None
            if vanished:
                # The row was deleted meanwhile (an erasure): recreate it, outside that transaction.
                await self._ensure_row(appid, openid)
                continue
            if loop.time() >= give_up:
                raise ConversationBusy(f"conversation of {openid} is held by another process")
            # Real waiting on another process, bounded by the delivery's time budget: not test timing.
            await asyncio.sleep(self._poll_seconds)

    async def _release_lease(self, appid: str, openid: str, owner: str) -> None:
        async with self._db.transaction() as session:
            await session.exec(
                update(ConversationRow)
                .where(
                    col(ConversationRow.appid) == appid,
                    col(ConversationRow.openid) == openid,
                    col(ConversationRow.lock_owner) == owner,
                )
                .values(lock_owner=None, lock_until=None)
            )

    # --- inside the caller's transaction ---------------------------------------------------------------

    async def _hold_in_session(self, session: AsyncSession, appid: str, openid: str, owner: str) -> ConversationRow:
        now = self._clock.now()
        row = await self._find(session, appid, openid)
        if row is None:
            try:
                async with session.begin_nested():
                    session.add(ConversationRow(appid=appid, openid=openid, updated_at=now))
            except IntegrityError:
                pass  # created concurrently; the update below waits for it
        # Writing the row takes the database's lock on it until the caller commits.
        await session.exec(
            update(ConversationRow)
            .where(col(ConversationRow.appid) == appid, col(ConversationRow.openid) == openid)
            .values(lock_owner=owner, lock_until=now + LEASE)
        )
        row = await self._find(session, appid, openid)
        if row is None:
            raise ConversationBusy(f"conversation row of {openid} vanished")
        await session.refresh(row)
        return row
