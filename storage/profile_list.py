"""The console's profile list: filters, sorting and pages over every profile, fast on a million of them.

A filter is data (`ProfileFilter`), so it can be saved as a segment and reused as a mass send's target.
Filters on the profile's own columns are plain conditions; those about its followers (channel, consent,
bound, recent interaction, journey) are EXISTS subqueries over the few profiles that have followers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func
from sqlalchemy import select as core_select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import UnaryExpression
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.consent import Consent
from storage.models.core import Follower, Profile
from storage.models.engagement import SavedSegment
from storage.models.links import LinkClick
from storage.models.pushes import JourneyRun

PAGE_SIZE = 50
# Counting every match of a filter over a million profiles costs more than the page itself (a filter that
# matches fewer than this reads every profile); past this the list says "more than".
COUNT_CAP = 1_000
SORTS = ("last_order", "spend", "orders", "newest")


class FilterError(ValueError):
    """A filter value that cannot be used; the message names the field and what it takes."""


@dataclass(frozen=True)
class ProfileFilter:
    """Which profiles to list. Empty / zero / None fields do not filter."""

    segment: str = ""
    r_min: int = 0
    f_min: int = 0
    m_min: int = 0
    channel: str = ""
    consent: str = ""  # "yes": marketing consent given by a follower of the profile; "no": none given
    bound: str = ""  # "yes": a follower is linked; "no": imported only
    active_days: int = 0  # some follower interacted within this many days
    orders_min: int | None = None
    orders_max: int | None = None
    spend_min_fen: int | None = None
    spend_max_fen: int | None = None
    journey_id: int = 0  # a follower of the profile has (or had) a run of this journey
    # Engagement: opened at least `clicks_min` of our messages' links in the last `clicks_days` days
    # (clicks_min 1 with clicks_days 30: "clicked something this month").
    clicks_min: int = 0
    clicks_days: int = 30
    sort: str = "last_order"

    def __post_init__(self) -> None:
        for name in ("r_min", "f_min", "m_min"):
            if not 0 <= getattr(self, name) <= 5:
                raise FilterError(f"{name}: an RFM score is 1-5 (0 for any)")
        for name in ("consent", "bound"):
            if getattr(self, name) not in ("", "yes", "no"):
                raise FilterError(f"{name}: yes, no or empty")
        if self.sort not in SORTS:
            raise FilterError(f"sort: one of {', '.join(SORTS)}")
        if len(self.segment) > 24:
            raise FilterError("segment: at most 24 characters")
        numbers = (
            self.active_days, self.orders_min, self.orders_max, self.spend_min_fen, self.spend_max_fen,
            self.clicks_min, self.clicks_days,
        )  # fmt: skip
        if any(value is not None and value < 0 for value in numbers) or self.journey_id < 0:
            raise FilterError("counts, amounts and days cannot be negative")
        if len(self.channel) > 64:
            raise FilterError("channel: a scene has at most 64 characters")

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ProfileFilter:
        """From a saved segment's document; unknown keys are refused, so a typo never widens a send."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(doc) - known)
        if unknown:
            raise FilterError(f"unknown filter field(s): {', '.join(unknown)}")
        return cls(**doc)

    def to_doc(self) -> dict[str, Any]:
        """Only the fields that filter (and the sort), for saving."""
        default = ProfileFilter()
        return {k: v for k, v in asdict(self).items() if v != getattr(default, k)}

    def contradicts_itself(self) -> bool:
        """A minimum above its maximum: nothing can match, so nothing needs to be read."""
        return any(
            low is not None and high is not None and low > high
            for low, high in ((self.orders_min, self.orders_max), (self.spend_min_fen, self.spend_max_fen))
        )

    def is_empty(self) -> bool:
        return not {k for k in self.to_doc() if k != "sort"}


def _conditions(spec: ProfileFilter, now: datetime) -> list[ColumnElement[bool]]:
    p = Profile
    where: list[ColumnElement[bool]] = [col(p.erased_at).is_(None)]
    if spec.segment:
        where.append(col(p.segment) == spec.segment)
    for name, column in (("r_min", p.r_score), ("f_min", p.f_score), ("m_min", p.m_score)):
        if getattr(spec, name):
            where.append(col(column) >= getattr(spec, name))
    if spec.orders_min is not None:
        where.append(col(p.order_count) >= spec.orders_min)
    if spec.orders_max is not None:
        where.append(col(p.order_count) <= spec.orders_max)
    if spec.spend_min_fen is not None:
        where.append(col(p.total_spent_fen) >= spec.spend_min_fen)
    if spec.spend_max_fen is not None:
        where.append(col(p.total_spent_fen) <= spec.spend_max_fen)
    # Follower filters select profile ids from the followers side (few rows, indexed by profile), rather
    # than testing every profile with a correlated EXISTS.
    linked = col(Follower.profile_id).is_not(None)
    if spec.bound:
        bound = col(p.id).in_(core_select(col(Follower.profile_id)).where(linked))
        where.append(bound if spec.bound == "yes" else ~bound)
    if spec.channel:
        where.append(
            col(p.id).in_(core_select(col(Follower.profile_id)).where(col(Follower.channel_scene) == spec.channel))
        )
    if spec.active_days:
        since = now - timedelta(days=spec.active_days)
        where.append(
            col(p.id).in_(core_select(col(Follower.profile_id)).where(col(Follower.last_interaction_at) >= since))
        )
    if spec.journey_id:
        runs = core_select(col(JourneyRun.profile_id)).where(col(JourneyRun.journey_id) == spec.journey_id)
        where.append(col(p.id).in_(runs))
    if spec.clicks_min:
        since = now - timedelta(days=spec.clicks_days)
        # Deliveries opened (a delivery whose link was opened twice counts once), per profile.
        opened = (
            core_select(col(LinkClick.profile_id), col(LinkClick.delivery_kind), col(LinkClick.delivery_id))
            .where(col(LinkClick.profile_id).is_not(None), col(LinkClick.clicked_at) >= since)
            .distinct()
            .subquery()
        )
        clickers = (
            core_select(opened.c.profile_id).group_by(opened.c.profile_id).having(func.count() >= spec.clicks_min)
        )
        where.append(col(p.id).in_(clickers))
    if spec.consent:
        consenting = col(p.id).in_(_consenting_profiles())
        where.append(consenting if spec.consent == "yes" else ~consenting)
    return where


def _consenting_profiles() -> Select[int | None]:
    """Profiles with a follower whose newest marketing consent row grants it."""
    row, later = aliased(Consent), aliased(Consent)
    newer = exists().where(
        col(later.follower_id) == col(row.follower_id), col(later.purpose) == "marketing", col(later.id) > col(row.id)
    )
    return core_select(col(row.profile_id)).where(col(row.purpose) == "marketing", col(row.granted).is_(True), ~newer)


def _order(sort: str) -> list[UnaryExpression[Any]]:
    p = Profile
    if sort == "spend":
        return [col(p.total_spent_fen).desc(), col(p.id).desc()]
    if sort == "orders":
        return [col(p.order_count).desc(), col(p.id).desc()]
    if sort == "newest":
        return [col(p.id).desc()]
    # Profiles that never ordered last (PostgreSQL puts NULLs first when descending).
    return [col(p.last_order_at).desc().nulls_last(), col(p.id).desc()]


@dataclass(frozen=True)
class ProfilePage:
    profiles: list[Profile]
    page: int
    count: int  # matches, up to COUNT_CAP + 1
    has_next: bool

    @property
    def count_capped(self) -> bool:
        return self.count > COUNT_CAP


async def list_profiles(session: AsyncSession, spec: ProfileFilter, *, now: datetime, page: int = 1) -> ProfilePage:
    """One page of the profiles `spec` selects, in its order, with how many match (capped)."""
    page = max(1, page)
    if spec.contradicts_itself():
        return ProfilePage(profiles=[], page=page, count=0, has_next=False)
    where = _conditions(spec, now)
    statement = (
        select(Profile)
        .where(and_(*where))
        .order_by(*_order(spec.sort))
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    rows = list((await session.exec(statement)).all())
    has_next = len(rows) > PAGE_SIZE
    if page == 1 and not has_next:
        return ProfilePage(profiles=rows, page=page, count=len(rows), has_next=False)  # the page is the count
    capped = core_select(col(Profile.id)).where(and_(*where)).limit(COUNT_CAP + 1).subquery()
    conn = await session.connection()
    count = int((await conn.execute(core_select(func.count()).select_from(capped))).scalar_one())
    return ProfilePage(profiles=rows[:PAGE_SIZE], page=page, count=count, has_next=has_next)


async def profile_ids(
    session: AsyncSession, spec: ProfileFilter, *, now: datetime, chunk: int = 5_000
) -> AsyncIterator[list[int]]:
    """Every matching profile id, in chunks by ascending id (exports and sends over a whole segment)."""
    where = _conditions(spec, now)
    after = 0
    conn = await session.connection()
    while True:
        ids = [
            int(i or 0)
            for i in (
                await conn.execute(
                    core_select(col(Profile.id))
                    .where(and_(*where), col(Profile.id) > after)
                    .order_by(col(Profile.id))
                    .limit(chunk)
                )
            ).scalars()
        ]
        if not ids:
            return
        yield ids
        after = ids[-1]


__all__ = [
    "SAVED_PREFIX",
    "ExportRow",
    "delete_segment",
    "export_chunk",
    "unenrolled_followers",
    "matching_ids",
    "save_segment",
    "saved_segment",
    "saved_segments",
    "COUNT_CAP",
    "PAGE_SIZE",
    "SORTS",
    "FilterError",
    "ProfileFilter",
    "ProfilePage",
    "list_profiles",
    "profile_ids",
]


SAVED_PREFIX = "saved:"


def matching_ids(spec: ProfileFilter, now: datetime) -> Select[int | None]:
    """A SELECT of the ids of every profile `spec` matches (to use in IN, e.g. a mass send's audience)."""
    return core_select(col(Profile.id)).where(and_(*_conditions(spec, now)))


async def saved_segment(session: AsyncSession, name: str) -> ProfileFilter | None:
    """The filter saved under `name` (None when there is none)."""
    row = (await session.exec(select(SavedSegment).where(SavedSegment.name == name))).first()
    return None if row is None else ProfileFilter.from_doc(dict(row.filter))


async def save_segment(
    session: AsyncSession, name: str, spec: ProfileFilter, *, by: str, now: datetime
) -> SavedSegment:
    """Keep `spec` under `name` (a new name, or replacing the filter of an existing one); caller commits."""
    name = name.strip()
    if not 1 <= len(name) <= 40:
        raise FilterError("a saved segment needs a name of 1-40 characters")
    if spec.is_empty():
        raise FilterError("a saved segment needs at least one filter (everyone is the segment 'all')")
    row = (await session.exec(select(SavedSegment).where(SavedSegment.name == name))).first()
    if row is None:
        row = SavedSegment(name=name, created_by=by, created_at=now, updated_at=now)
    row.filter, row.updated_at = spec.to_doc(), now
    session.add(row)
    return row


async def saved_segments(session: AsyncSession) -> list[SavedSegment]:
    return list((await session.exec(select(SavedSegment).order_by(col(SavedSegment.name)))).all())


async def delete_segment(session: AsyncSession, name: str) -> bool:
    """Forget the saved segment `name` (caller commits); False when there was none."""
    row = (await session.exec(select(SavedSegment).where(SavedSegment.name == name))).first()
    if row is None:
        return False
    await session.delete(row)
    return True


@dataclass(frozen=True)
class ExportRow:
    """The columns of the profile list's CSV, one profile."""

    id: int
    name: str
    phone_masked: str
    phone_sealed: str
    city: str
    segment: str
    r_score: int
    f_score: int
    m_score: int
    order_count: int
    total_spent_fen: int
    last_order_at: datetime | None
    created_at: datetime


async def export_chunk(
    session: AsyncSession, spec: ProfileFilter, *, now: datetime, after: int, limit: int = 2_000
) -> list[ExportRow]:
    """The next `limit` matching profiles with an id above `after`, by id: a whole export walks these
    chunks (each in its own short session), so neither side ever holds more than one chunk in memory."""
    if spec.contradicts_itself():
        return []
    names = (
        "id", "name", "phone_masked", "phone_sealed", "city", "segment", "r_score", "f_score", "m_score",
        "order_count", "total_spent_fen", "last_order_at", "created_at",
    )  # fmt: skip
    p = Profile
    statement = (
        core_select(*(getattr(Profile.__table__.c, name) for name in names))  # type: ignore[attr-defined]
        .where(and_(*_conditions(spec, now)), col(p.id) > after)
        .order_by(col(p.id))
        .limit(limit)
    )
    conn = await session.connection()
    rows = (await conn.execute(statement)).all()
    return [
        ExportRow(
            int(r[0] or 0),
            r[1] or "",
            r[2] or "",
            r[3] or "",
            r[4] or "",
            r[5],
            int(r[6]),
            int(r[7]),
            int(r[8]),
            int(r[9]),
            int(r[10]),
            r[11],
            r[12],
        )  # fmt: skip
        for r in rows
    ]


async def unenrolled_followers(
    session: AsyncSession, *, journey_id: int, segment: str, now: datetime
) -> list[tuple[int, int]]:
    """(follower id, profile id) of subscribed followers whose profile is in `segment` (an RFM segment, or
    `saved:<name>` for a saved segment's filter) and who never had a run of the journey."""
    in_segment: ColumnElement[bool]
    if segment.startswith(SAVED_PREFIX):
        spec = await saved_segment(session, segment[len(SAVED_PREFIX) :])
        if spec is None or spec.contradicts_itself():
            return []
        in_segment = col(Follower.profile_id).in_(matching_ids(spec, now))
    else:
        in_segment = col(Profile.segment) == segment
    enrolled = core_select(col(JourneyRun.follower_id)).where(col(JourneyRun.journey_id) == journey_id)
    statement = (
        core_select(col(Follower.id), col(Follower.profile_id))
        .join(Profile, col(Profile.id) == col(Follower.profile_id))
        .where(in_segment, col(Follower.status) == "subscribed", col(Follower.id).not_in(enrolled))
    )
    conn = await session.connection()
    return [(int(fid), int(pid)) for fid, pid in (await conn.execute(statement)).all() if fid is not None and pid]
