"""Leader election through a lease row: exactly one process runs the scheduler at a time.

The holder renews its lease every `ttl / 3`; any process may take a lease whose `expires_at` passed. The
take-or-renew is one conditional UPDATE, atomic on PostgreSQL (the row lock re-checks the condition) and
on SQLite (one writer at a time), so two processes can never both believe they hold it past a renewal.
A dead leader is replaced within `ttl` plus one heartbeat (30 s + 10 s by default).
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from base.clock import Clock
from storage.db import Database
from storage.leases import give_up, take_or_renew

DEFAULT_TTL = timedelta(seconds=30)


def process_identity() -> str:
    """host:pid:random, unique per process start."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaderLease:
    """One named lease; `holder` identifies this process."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        name: str = "scheduler",
        holder: str | None = None,
        ttl: timedelta = DEFAULT_TTL,
    ) -> None:
        self.db = db
        self.clock = clock
        self.name = name
        self.holder = holder or process_identity()
        self.ttl = ttl

    @property
    def heartbeat(self) -> timedelta:
        """How often the holder renews (and a follower retries)."""
        return self.ttl / 3

    async def try_acquire(self) -> bool:
        """Take the lease if free or expired, renew it if ours; True when this process holds it now."""
        now = self.clock.now()
        return await take_or_renew(self.db, name=self.name, holder=self.holder, now=now, until=now + self.ttl)

    async def release(self) -> None:
        """Give the lease up at once (a clean shutdown), so a follower takes over without waiting."""
        await give_up(self.db, name=self.name, holder=self.holder, now=self.clock.now())
