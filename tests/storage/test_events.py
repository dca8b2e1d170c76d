"""Domain events written through storage.events, in each kind of transaction, read back the same on
SQLite and PostgreSQL; an event whose dedup_key is already there is skipped when asked to be."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage.db import Database
from storage.events import NewEvent, add_event, events_write, insert_event_once, insert_events
from storage.group_commit import group_commit
from storage.models.core import DomainEvent

pytestmark = pytest.mark.storage

AT = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


def _event(key: str | None, kind: str = "followed") -> NewEvent:
    return NewEvent(kind=kind, occurred_at=AT, appid="wx1", follower_id=7, payload={"scene": "门店"}, dedup_key=key)


async def _stored(db: Database) -> list[tuple[str, str | None, dict[str, object], datetime]]:
    async with db.session() as session:
        rows = (await session.exec(select(DomainEvent).order_by(col(DomainEvent.id)))).all()
    return [(row.kind, row.dedup_key, row.payload, row.occurred_at) for row in rows]


async def test_each_way_of_writing_stores_the_same_event(db: Database) -> None:
    async with db.transaction() as session:
        add_event(session, _event("a"))
    async with db.engine.begin() as conn:
        await insert_events(conn, [_event("b")])
    await group_commit(db).run(events_write([_event("c")]))
    assert await _stored(db) == [("followed", key, {"scene": "门店"}, AT) for key in ("a", "b", "c")]


async def test_a_repeated_dedup_key_is_skipped_only_when_asked(db: Database) -> None:
    assert await insert_event_once(db, _event("scan:1")) is True
    assert await insert_event_once(db, _event("scan:1", kind="segment_entered")) is False
    await group_commit(db).run(events_write([_event("scan:1"), _event("scan:2")], once=True))
    assert [key for _kind, key, _payload, _at in await _stored(db)] == ["scan:1", "scan:2"]
    with pytest.raises(IntegrityError):
        async with db.engine.begin() as conn:
            await insert_events(conn, [_event("scan:2")])


async def test_events_without_a_key_never_clash(db: Database) -> None:
    await group_commit(db).run(events_write([_event(None), _event(None)], once=True))
    assert await insert_event_once(db, _event(None)) is True
    assert len(await _stored(db)) == 3


def test_a_long_key_is_cut_to_the_column() -> None:
    assert len(_event("x" * 400).values()["dedup_key"]) == 255
