"""Planning mass sends: checks before one is scheduled, the account's counter of the month, cancelling.

WeChat lets a service account's followers receive at most 4 mass sends a China calendar month, and a
subscription account mass-send once a day. The sender also leaves out any follower already at 4 (sends
made in WeChat's own console count too), but an operator should hear "no" when planning a fifth, not
find out afterwards that it reached nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import CHINA
from journeys.catalogue import published_template
from storage import mass_sends as store
from storage.accounts import account_kind
from storage.db import Database
from storage.models.pushes import MassSend
from storage.profile_list import SAVED_PREFIX, saved_segment

MONTHLY_LIMIT = 4
DAILY_LIMIT_SUBSCRIPTION = 1


class MassSendError(ValueError):
    """A mass send cannot be scheduled as asked (the message says why)."""


def china_month(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m")


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """The China calendar month holding `moment`, as [start, end)."""
    local = moment.astimezone(CHINA)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def day_bounds(moment: datetime) -> tuple[datetime, datetime]:
    start = moment.astimezone(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class Allowance:
    """How many of the account's sends the period holding a date has used, and how many it allows."""

    kind: str  # service | subscription
    used: int
    limit: int
    period: str  # month | day

    @property
    def full(self) -> bool:
        return self.used >= self.limit


async def allowance(session: AsyncSession, appid: str, at: datetime) -> Allowance:
    """The account's counter for the China month (service) or day (subscription) holding `at`."""
    kind = await account_kind(session, appid)
    if kind == "subscription":
        start, end = day_bounds(at)
        used = await store.sends_between(session, appid, start, end)
        return Allowance(kind, used, DAILY_LIMIT_SUBSCRIPTION, "day")
    start, end = month_bounds(at)
    return Allowance(kind, await store.sends_between(session, appid, start, end), MONTHLY_LIMIT, "month")


async def schedule_mass_send(
    db: Database, *, name: str, appid: str, template: str, segment: str, at: datetime, now: datetime,
    monthly: bool = False, by: str = "",
) -> MassSend:  # fmt: skip
    """Plan a broadcast of the published `template` (a mass_news template) to `segment` at `at`."""
    name, segment = name.strip(), segment.strip()
    if not 1 <= len(name) <= 100:
        raise MassSendError("a mass send needs a name of 1-100 characters")
    if not 1 <= len(segment) <= 40:
        raise MassSendError("choose an audience: all, a segment, tag:<name> or saved:<name> (at most 40 characters)")
    if at.tzinfo is None:
        raise MassSendError("the time of a mass send needs a time zone")
    async with db.transaction() as session:
        published = await published_template(session, template)
        if published is None:
            raise MassSendError(f"template {template!r} does not exist or has no published version")
        if published.kind != "mass_news":
            raise MassSendError(f"template {template!r} is a {published.kind} template; a mass send needs mass_news")
        if segment.startswith(SAVED_PREFIX) and await saved_segment(session, segment[len(SAVED_PREFIX) :]) is None:
            raise MassSendError(f"there is no saved segment {segment[len(SAVED_PREFIX) :]!r}")
        counter = await allowance(session, appid, max(at, now))
        if counter.full:
            when = china_month(at) if counter.period == "month" else at.astimezone(CHINA).strftime("%Y-%m-%d")
            raise MassSendError(
                f"account {appid} already has {counter.used} mass sends in {when}; "
                f"WeChat allows {counter.limit} a {counter.period}"
            )
        plan = MassSend(
            name=name, appid=appid, template_version_id=published.version_id, segment=segment,
            scheduled_at=at, monthly=monthly, created_by=by, created_at=now,
        )  # fmt: skip
        session.add(plan)
    return plan


async def cancel_mass_send(db: Database, plan_id: int, *, by: str, now: datetime) -> MassSend:
    """Cancel a planned send that has not started; MassSendError when it is unknown or already going."""
    async with db.transaction() as session:
        plan = await store.cancel_plan(session, plan_id, by=by, now=now)
        if plan is None:
            raise MassSendError(f"mass send #{plan_id} is not waiting to be sent, so it cannot be cancelled")
    return plan


@dataclass(frozen=True)
class AudienceCount:
    """Who a target reaches now: subscribed followers, those with marketing consent, those still under 4."""

    followers: int
    consenting: int
    reachable: int
    sample_profile_id: int | None


async def count_audience(db: Database, appid: str, segment: str, now: datetime) -> AudienceCount:
    """How many followers a send to `segment` would reach if prepared now; MassSendError for a lost segment."""
    async with db.session() as session:
        try:
            members = await store.audience(session, appid, segment, now)
        except store.UnknownAudience as missing:
            raise MassSendError(f"there is no saved segment {missing.args[0]!r}") from None
        ids = [fid for fid, _ in members]
        consents = await store.marketing_consent(session, ids)
        consenting = [fid for fid in ids if consents.get(fid)]
        counts = await store.receipts_in_month(session, china_month(now), consenting)
        reachable = [fid for fid in consenting if counts.get(fid, 0) < MONTHLY_LIMIT]
        sample = await store.profile_of_follower(session, reachable[0]) if reachable else None
    return AudienceCount(len(ids), len(consenting), len(reachable), sample)


__all__ = [
    "MONTHLY_LIMIT",
    "Allowance",
    "AudienceCount",
    "MassSendError",
    "allowance",
    "cancel_mass_send",
    "china_month",
    "count_audience",
    "month_bounds",
    "schedule_mass_send",
]
