"""Erasing a person: their phone, names, addresses and raw payloads leave every table; aggregates stay.

The profile row stays as an anonymous aggregate (order counts, spend, segment) under a key that no number
hashes to; followers stay for channel and funnel counts under a random pseudonym instead of the openid;
rows of other tables lose their declared personal columns and every trace of the person's identifiers
(see storage.personal_data). The erasure itself is recorded with a keyed hash of the number.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import storage.models  # noqa: F401  (every table must be registered before the walk)
from base.vault import erasure_hash, mask_phone
from identity.linking import audit
from identity.optout import withdraw_marketing
from identity.subjects import Subject
from storage.identity import erasure_recorded, orders_of_profile
from storage.models.identity import Erasure
from storage.personal_data import (
    EXPLICIT_TABLES,
    SubjectKeys,
    delete_row,
    policy_for,
    rows_of_subject,
    scrub_value,
    searchable_columns,
    update_row,
)


@dataclass
class ErasureReport:
    """What an erasure did: the record's id and hash, and rows touched per table."""

    erasure_id: int
    subject_hash: str
    rows: dict[str, int] = field(default_factory=dict)


_PSEUDONYM_PREFIX = "erased"


def _pseudonym(original: str) -> str:
    # Same length as the openid it replaces, so unique keys built from it keep their shape and size.
    token = _PSEUDONYM_PREFIX + secrets.token_hex(32)
    return token[: max(len(original), 16)]


def is_erased_follower(openid: str) -> bool:
    """Whether a follower row is what erasure left of a person (its openid replaced by a pseudonym)."""
    return openid.startswith(_PSEUDONYM_PREFIX)


def _mask(value: str) -> str:
    return "*" * len(value)


async def _weak_values(session: AsyncSession, subject: Subject) -> set[str]:
    """Names, cities and phone hints held about the person: scrubbed from their rows only."""
    values: set[str] = set()
    profile = subject.profile
    if profile is not None and profile.id is not None:
        values.update(v for v in (profile.name, profile.city, profile.phone_masked) if v)
        for order in await orders_of_profile(session, profile.id):
            values.update(v for v in (order.receiver_name, order.receiver_city, order.phone_hint) if v)
    if subject.e164:
        values.add(mask_phone(subject.e164))
    return {v for v in values if len(v) >= 2}


def subject_keys(subject: Subject) -> SubjectKeys:
    phones: set[str] = set()
    if subject.e164:
        phones.add(subject.e164)
        if subject.e164.startswith("+86"):
            phones.add(subject.e164[3:])
    strong = phones | subject.openids | subject.unionids
    phone_keys = {subject.profile.phone_key} if subject.profile is not None else set()
    return SubjectKeys(
        follower_ids=frozenset(subject.follower_ids),
        profile_ids=frozenset(subject.profile_ids),
        openids=frozenset(subject.openids),
        unionids=frozenset(subject.unionids),
        phone_keys=frozenset(phone_keys),
        strong=frozenset(s for s in strong if len(s) >= 6),
    )


async def _walk_tables(session: AsyncSession, keys: SubjectKeys, replacements: list[tuple[str, str]]) -> dict[str, int]:
    connection = await session.connection()
    touched: dict[str, int] = {}
    for table in SQLModel.metadata.sorted_tables:
        if table.name in EXPLICIT_TABLES:
            continue
        policy = policy_for(table.name)
        rows = await rows_of_subject(connection, table, keys)
        if not rows:
            continue
        touched[table.name] = len(rows)
        for row in rows:
            if policy.delete_rows:
                await delete_row(connection, table, row)
                continue
            changes: dict[str, Any] = {k: v for k, v in policy.clear.items() if k in table.columns}
            for column in searchable_columns(table):
                if column.name in changes:
                    continue
                scrubbed = scrub_value(row[column.name], replacements)
                if scrubbed != row[column.name]:
                    changes[column.name] = scrubbed
            if changes:
                await update_row(connection, table, row, changes)
    return touched


async def erase_subject(
    session: AsyncSession, subject: Subject, *, actor: str, now: datetime, data_key: bytes = b""
) -> ErasureReport:
    """Erase the person's data everywhere; the caller commits (one transaction: all or nothing)."""
    keys = subject_keys(subject)
    pseudonyms = {openid: _pseudonym(openid) for openid in subject.openids}
    pseudonyms.update({unionid: _pseudonym(unionid) for unionid in subject.unionids})
    replacements = [(needle, pseudonyms.get(needle) or _mask(needle)) for needle in keys.strong]
    replacements += [(value, _mask(value)) for value in await _weak_values(session, subject)]
    # Longest first, so a number is not half-replaced through a shorter form of itself.
    replacements.sort(key=lambda pair: len(pair[0]), reverse=True)
    identifier = subject.e164 or "openid:" + ",".join(sorted(subject.openids))

    rows = await _walk_tables(session, keys, replacements)
    profile = subject.profile
    if profile is not None:
        profile.phone_key = f"erased:{profile.id}"
        profile.phone_sealed = ""
        profile.phone_masked = ""
        profile.name = None
        profile.city = None
        profile.tags = []
        profile.erased_at = now
        profile.updated_at = now
        session.add(profile)
        rows["profiles"] = 1
    for follower in subject.followers:
        follower.openid = pseudonyms[follower.openid]
        follower.unionid = None
        follower.status = "gone"
        follower.tags = []
        follower.last_scan_scene = None
        follower.updated_at = now
        session.add(follower)
        # Pending marketing pushes are cancelled by journeys on this event (the payload names nobody).
        await withdraw_marketing(session, follower, typed="", source="erasure", now=now)
    rows["followers"] = len(subject.followers)

    record = Erasure(
        subject_hash=erasure_hash(identifier, data_key),
        profile_id=profile.id if profile is not None else None,
        erased_at=now,
        actor=actor,
        summary=rows,
    )
    session.add(record)
    await session.flush()
    assert record.id is not None
    target = f"profile:{profile.id}" if profile is not None else f"erasure:{record.id}"
    audit(session, actor=actor, action="data.erased", target=target, at=now, erasure_id=record.id, rows=rows)
    await session.flush()
    return ErasureReport(record.id, record.subject_hash, rows)


async def was_erased(session: AsyncSession, identifier: str, data_key: bytes = b"") -> bool:
    """Whether a number (E.164) was erased before: lets an import decline to bring it back."""
    return await erasure_recorded(session, erasure_hash(identifier, data_key))
