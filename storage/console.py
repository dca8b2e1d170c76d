"""Console users, server-side sessions and the login lock-out, in SQL."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.db import take_write_lock
from storage.models.console import ConsoleUser, LoginAttempt, WebSession

ROLES = ("admin", "editor")
# What a new user is unless someone chooses more: the role that can do the least.
DEFAULT_ROLE = "editor"
# Five wrong passwords in fifteen minutes lock that user name, from anywhere, for fifteen minutes.
USER_FAILURE_LIMIT = 5
# One address may try a few names (an office shares one NAT address) but not spray many.
IP_FAILURE_LIMIT = 10
LOCKOUT_WINDOW = timedelta(minutes=15)
# A session ends after two idle hours, and in any case twelve hours after sign-in.
SESSION_IDLE = timedelta(hours=2)
SESSION_ABSOLUTE = timedelta(hours=12)
# last_seen_at is written at most once a minute, so page views do not each cost a write.
_TOUCH_EVERY = timedelta(minutes=1)


class UserExistsError(ValueError):
    """A console user with that name already exists."""


def hash_token(token: str) -> str:
    """What is stored for a session cookie token: its SHA-256 (the token has 256 bits of entropy)."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


async def create_user(
    session: AsyncSession, *, name: str, role: str, password_hash: str, now: datetime, locale: str = "zh_CN"
) -> ConsoleUser:
    """Add a user (caller commits), reading the console in `locale`. Raises UserExistsError or ValueError
    for an unknown role."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if await find_user(session, name) is not None:
        raise UserExistsError(f"a console user named {name!r} already exists")
    user = ConsoleUser(name=name, role=role, password_hash=password_hash, created_at=now, locale=locale)
    session.add(user)
    await session.flush()
    return user


async def find_user(session: AsyncSession, name: str) -> ConsoleUser | None:
    return (await session.exec(select(ConsoleUser).where(ConsoleUser.name == name))).first()


async def list_users(session: AsyncSession) -> list[ConsoleUser]:
    return list((await session.exec(select(ConsoleUser).order_by(col(ConsoleUser.name)))).all())


@dataclass(frozen=True)
class Lockout:
    """Whether a login may be tried now, and if not, until when."""

    locked: bool
    until: datetime | None = None


async def _failures_since(
    session: AsyncSession, since: datetime, *, username: str | None, ip: str | None
) -> list[datetime]:
    statement = select(LoginAttempt.at).where(LoginAttempt.at > since, col(LoginAttempt.succeeded).is_(False))
    if username is not None:
        statement = statement.where(LoginAttempt.username == username)
    if ip is not None:
        statement = statement.where(LoginAttempt.ip == ip)
    return list((await session.exec(statement.order_by(col(LoginAttempt.at).desc()))).all())


async def _last_success(session: AsyncSession, username: str) -> datetime | None:
    statement = select(func.max(LoginAttempt.at)).where(
        LoginAttempt.username == username, col(LoginAttempt.succeeded).is_(True)
    )
    value: datetime | None = (await session.exec(statement)).one()
    return value


async def lockout_state(session: AsyncSession, *, username: str, ip: str, now: datetime) -> Lockout:
    """Locked when the name, or the address, has too many recent failures; until the oldest counted ages out."""
    quiet_start = now - LOCKOUT_WINDOW
    success = await _last_success(session, username)
    # A successful sign-in forgives the name's earlier failures (not the address's).
    name_since = max(quiet_start, success) if success is not None else quiet_start
    until: datetime | None = None
    for failures, limit in (
        (await _failures_since(session, name_since, username=username, ip=None), USER_FAILURE_LIMIT),
        (await _failures_since(session, quiet_start, username=None, ip=ip), IP_FAILURE_LIMIT),
    ):
        if len(failures) >= limit:
            # The lock lifts once fewer than `limit` failures remain inside the window.
            candidate = failures[limit - 1] + LOCKOUT_WINDOW
            until = candidate if until is None else max(until, candidate)
    return Lockout(until is not None, until)


@dataclass(frozen=True)
class Reservation:
    """The outcome of asking to check a password: locked out, or the attempt row recorded for it."""

    lockout: Lockout
    attempt_id: int | None = None


# Advisory lock classes (the first key of PostgreSQL's two-key advisory locks) for one user name and one
# address; the second key is a hash of the name or address. Colliding hashes only queue two logins.
_NAME_LOCK_CLASS = 18_301
_IP_LOCK_CLASS = 18_302


def _lock_key(value: str) -> int:
    return int.from_bytes(hashlib.sha256(value.encode("utf-8")).digest()[:4], "big", signed=True)


async def _serialize_attempts(session: AsyncSession, *, username: str, ip: str) -> None:
    """Hold, until this transaction ends, the turn of every login for this name and from this address.

    SQLite: the database's write lock (`BEGIN IMMEDIATE`), so the count below sees every committed
    attempt and no other writer records one before this one. PostgreSQL: two transaction-scoped advisory
    locks, always the name's first, so two logins never wait on each other in a cycle.
    """
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        await take_write_lock(connection)
        return
    for lock_class, value in ((_NAME_LOCK_CLASS, username), (_IP_LOCK_CLASS, ip)):
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:lock_class, :key)"), {"lock_class": lock_class, "key": _lock_key(value)}
        )


async def reserve_attempt(session: AsyncSession, *, username: str, ip: str, now: datetime) -> Reservation:
    """Check the lock-out and, unless locked, record this attempt as a failure, before any password check.

    Run it alone in its own transaction (call it first) and commit before hashing: attempts for one name or
    one address take turns here, so however many arrive at once, at most the limit are let through to
    scrypt. The row becomes a success only once the password matched (`mark_attempt_succeeded`); a check
    that never finishes stays counted as a failure.
    """
    username, ip = username[:60], ip[:64]
    await _serialize_attempts(session, username=username, ip=ip)
    lock = await lockout_state(session, username=username, ip=ip, now=now)
    if lock.locked:
        return Reservation(lock)
    attempt = LoginAttempt(at=now, username=username, ip=ip, succeeded=False)
    session.add(attempt)
    await session.flush()
    return Reservation(lock, attempt.id)


async def mark_attempt_succeeded(session: AsyncSession, attempt_id: int) -> None:
    """The password of a reserved attempt matched: it stops counting against the name and the address."""
    await session.exec(update(LoginAttempt).where(col(LoginAttempt.id) == attempt_id).values(succeeded=True))


async def start_session(session: AsyncSession, user: ConsoleUser, *, ip: str, now: datetime) -> tuple[str, WebSession]:
    """Open a session for `user`; returns the cookie token (shown once, stored only hashed) and the row."""
    if user.id is None:
        raise ValueError("the user must be saved before a session is opened")
    token = secrets.token_urlsafe(32)
    web_session = WebSession(
        token_hash=hash_token(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        ip=ip[:64],
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_ABSOLUTE,
    )
    session.add(web_session)
    user.last_login_at = now
    session.add(user)
    await session.flush()
    return token, web_session


async def resume_session(session: AsyncSession, token: str, *, now: datetime) -> tuple[WebSession, ConsoleUser] | None:
    """The live session and its user for a cookie token, or None (unknown, ended, expired, idle, disabled)."""
    statement = (
        select(WebSession, ConsoleUser)
        .join(ConsoleUser, col(ConsoleUser.id) == col(WebSession.user_id))
        .where(WebSession.token_hash == hash_token(token))
    )
    found = (await session.exec(statement)).first()
    if found is None:
        return None
    web_session, user = found
    if web_session.ended_at is not None or user.disabled:
        return None
    if now >= web_session.expires_at or now >= web_session.last_seen_at + SESSION_IDLE:
        return None
    if now - web_session.last_seen_at >= _TOUCH_EVERY:
        web_session.last_seen_at = now
        session.add(web_session)
        await session.flush()
    return web_session, user


async def end_session(session: AsyncSession, web_session_id: int, *, now: datetime) -> None:
    web_session = await session.get(WebSession, web_session_id)
    if web_session is not None and web_session.ended_at is None:
        web_session.ended_at = now
        session.add(web_session)
        await session.flush()


async def end_sessions_of_user(session: AsyncSession, user_id: int, *, now: datetime) -> int:
    """End every open session of a user (role change, disable, password reset); returns how many."""
    statement = select(WebSession).where(WebSession.user_id == user_id, col(WebSession.ended_at).is_(None))
    rows = list((await session.exec(statement)).all())
    for row in rows:
        row.ended_at = now
        session.add(row)
    await session.flush()
    return len(rows)
