"""SQL for the one shared access token per account (`access_tokens`), and the refresh lease.

Every process reads the token from here; only the process holding the lease fetches a new one. The
lease is taken with a conditional UPDATE, which is atomic on SQLite (one writer at a time) and on
PostgreSQL (a concurrent UPDATE re-checks its WHERE clause after the first one commits), so no
advisory locks or dialect tricks are needed beyond inserting the row once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Insert, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from storage.db import Database
from storage.models.core import AccessToken


@dataclass(frozen=True)
class StoredToken:
    """A token as the database holds it."""

    appid: str
    token: str
    expires_at: datetime | None
    refreshed_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None

    def usable_at(self, now: datetime) -> bool:
        """The token exists and has not expired yet (it may still be due for an early refresh)."""
        return bool(self.token) and self.expires_at is not None and now < self.expires_at


def _stored(row: AccessToken) -> StoredToken:
    return StoredToken(row.appid, row.token, row.expires_at, row.refreshed_at, row.lease_owner, row.lease_until)


async def read_token(db: Database, appid: str) -> StoredToken | None:
    """The stored token row of `appid`, or None when no process ever refreshed it."""
    async with db.session() as session:
        row = await session.get(AccessToken, appid)
        return None if row is None else _stored(row)


async def _ensure_row(db: Database, appid: str) -> None:
    # Two processes may create the row at once: whoever loses the race simply finds it there.
    statement: Insert
    if db.is_postgres:
        statement = pg_insert(AccessToken).values(appid=appid, token="").on_conflict_do_nothing()
    else:
        statement = sqlite_insert(AccessToken).values(appid=appid, token="").on_conflict_do_nothing()
    async with db.engine.begin() as conn:
        await conn.execute(statement)


async def take_lease(db: Database, appid: str, owner: str, now: datetime, duration: timedelta) -> bool:
    """Try to become the one process that refreshes `appid`'s token until `now + duration`.

    Succeeds when nobody holds the lease, the holder's lease ran out (it crashed or hung), or `owner`
    already holds it. Returns whether `owner` holds the lease now.
    """
    await _ensure_row(db, appid)
    statement = (
        update(AccessToken)
        .where(col(AccessToken.appid) == appid)
        .where(
            or_(
                col(AccessToken.lease_until).is_(None),
                col(AccessToken.lease_until) <= now,
                col(AccessToken.lease_owner) == owner,
            )
        )
        .values(lease_owner=owner, lease_until=now + duration)
    )
    async with db.engine.begin() as conn:
        result = await conn.execute(statement)
        return result.rowcount == 1


async def release_lease(db: Database, appid: str, owner: str) -> None:
    """Give the lease back (only if `owner` still holds it) so waiting processes need not wait it out."""
    statement = (
        update(AccessToken)
        .where(col(AccessToken.appid) == appid, col(AccessToken.lease_owner) == owner)
        .values(lease_owner=None, lease_until=None)
    )
    async with db.engine.begin() as conn:
        await conn.execute(statement)


async def publish_token(
    db: Database, appid: str, owner: str, token: str, expires_at: datetime, refreshed_at: datetime
) -> bool:
    """Store a freshly fetched token and release the lease, if `owner` still holds it.

    Returns False when the lease was lost meanwhile (another process took over after it ran out): the
    newer holder's token wins and this one is not written.
    """
    statement = (
        update(AccessToken)
        .where(col(AccessToken.appid) == appid, col(AccessToken.lease_owner) == owner)
        .values(token=token, expires_at=expires_at, refreshed_at=refreshed_at, lease_owner=None, lease_until=None)
    )
    async with db.engine.begin() as conn:
        result = await conn.execute(statement)
        return result.rowcount == 1


async def expire_token_if_current(db: Database, appid: str, failing_token: str, now: datetime) -> bool:
    """Mark the stored token expired, but only if it is still `failing_token`.

    A process that saw an old token fail must not throw away the new one another process just stored.
    Returns whether the stored token was the failing one.
    """
    statement = (
        update(AccessToken)
        .where(col(AccessToken.appid) == appid, col(AccessToken.token) == failing_token)
        .values(expires_at=now)
    )
    async with db.engine.begin() as conn:
        result = await conn.execute(statement)
        return result.rowcount == 1


__all__ = [
    "StoredToken",
    "expire_token_if_current",
    "publish_token",
    "read_token",
    "release_lease",
    "take_lease",
]
