"""Mass sends (群发): plans, their batches, the 4-a-month receipts and WeChat's reports, as SQL.

A plan's `segment` names its audience: `all`, a profile segment, `tag:<name>` (a profile tag) or
`saved:<name>` (a saved profile-list filter, read as it is when the send is prepared).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, text
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models.consent import Consent
from storage.models.content import Template, TemplateVersion
from storage.models.core import Follower, Profile
from storage.models.engagement import MassSendResult
from storage.models.pushes import MassSend, MassSendBatch, MassSendReceipt
from storage.profile_list import SAVED_PREFIX, matching_ids, saved_segment

TAG_PREFIX = "tag:"
# Plans that use up one of the account's sends of the month (a cancelled or failed one did not go out).
COUNTED = ("scheduled", "sending", "sent")


class UnknownAudience(LookupError):
    """The saved segment a target names does not exist."""


async def _tagged_profiles(session: AsyncSession, tag: str) -> Any:
    """A SELECT of the ids of profiles carrying `tag` in their JSON list of tags."""
    dialect = (await session.connection()).dialect.name
    if dialect == "postgresql":
        query = "SELECT id FROM profiles WHERE tags @> jsonb_build_array(CAST(:tag AS text))"
    else:
        query = "SELECT profiles.id FROM profiles, json_each(profiles.tags) WHERE json_each.value = :tag"
    return text(query).bindparams(tag=tag).columns(id=Integer).subquery()


async def _audience_statement(session: AsyncSession, appid: str, target: str, now: datetime) -> Any:
    statement = select(Follower.id, Follower.openid).where(Follower.appid == appid, Follower.status == "subscribed")
    if target.startswith(SAVED_PREFIX):
        spec = await saved_segment(session, target[len(SAVED_PREFIX) :])
        if spec is None:
            raise UnknownAudience(target[len(SAVED_PREFIX) :])
        return statement.where(col(Follower.profile_id).in_(matching_ids(spec, now)))
    if target.startswith(TAG_PREFIX):
        tagged = await _tagged_profiles(session, target[len(TAG_PREFIX) :])
        return statement.where(col(Follower.profile_id).in_(select(tagged.c.id)))
    if target != "all":
        return statement.join(Profile, col(Profile.id) == col(Follower.profile_id)).where(Profile.segment == target)
    return statement


async def audience(session: AsyncSession, appid: str, target: str, now: datetime) -> list[tuple[int, str]]:
    """(follower id, openid) of the subscribed followers `target` names; UnknownAudience for a lost segment."""
    rows = (await session.exec(await _audience_statement(session, appid, target, now))).all()
    return [(fid, openid) for fid, openid in rows if fid is not None]


async def marketing_consent(session: AsyncSession, follower_ids: Sequence[int]) -> dict[int, bool]:
    """Each follower's latest marketing consent answer (absent: never asked)."""
    if not follower_ids:
        return {}
    newest = (
        select(func.max(Consent.id))
        .where(col(Consent.follower_id).in_(follower_ids), Consent.purpose == "marketing")
        .group_by(col(Consent.follower_id))
    )
    rows = (await session.exec(select(Consent.follower_id, Consent.granted).where(col(Consent.id).in_(newest)))).all()
    return {fid: bool(granted) for fid, granted in rows}


async def receipts_in_month(session: AsyncSession, month: str, follower_ids: Sequence[int]) -> dict[int, int]:
    """How many mass sends each follower received in the China month `month` (YYYY-MM)."""
    if not follower_ids:
        return {}
    rows = await session.exec(
        select(MassSendReceipt.follower_id, func.count())
        .where(MassSendReceipt.month == month, col(MassSendReceipt.follower_id).in_(follower_ids))
        .group_by(col(MassSendReceipt.follower_id))
    )
    return dict(rows.all())


async def due_plans(session: AsyncSession, now: datetime) -> list[MassSend]:
    statement = select(MassSend).where(MassSend.status == "scheduled", col(MassSend.scheduled_at) <= now)
    return list((await session.exec(statement)).all())


async def open_batches(session: AsyncSession) -> list[MassSendBatch]:
    statement = (
        select(MassSendBatch)
        .where(col(MassSendBatch.status).in_(("pending", "sending")))
        .order_by(col(MassSendBatch.id))
    )
    return list((await session.exec(statement)).all())


async def add_batch(
    session: AsyncSession, plan_id: int, number: int, part: Sequence[tuple[int, str]], month: str
) -> MassSendBatch:
    """One batch of receivers and a receipt per receiver (their count of the month); caller commits."""
    batch = MassSendBatch(
        mass_send_id=plan_id, batch_no=number, clientmsgid=f"scrm-mass-{plan_id}-{number}",
        follower_ids=[fid for fid, _ in part], openids=[oid for _, oid in part],
    )  # fmt: skip
    session.add(batch)
    await session.flush()
    for fid, _ in part:
        session.add(MassSendReceipt(mass_send_id=plan_id, follower_id=fid, month=month, batch_id=batch.id or 0))
    return batch


async def drop_receipts(session: AsyncSession, batch_id: int) -> None:
    """Forget the receipts of a batch nobody received, so it does not count against their 4 a month."""
    for receipt in (await session.exec(select(MassSendReceipt).where(MassSendReceipt.batch_id == batch_id))).all():
        await session.delete(receipt)


async def plans_sending(session: AsyncSession) -> list[MassSend]:
    return list((await session.exec(select(MassSend).where(MassSend.status == "sending"))).all())


async def batch_statuses(session: AsyncSession, plan_id: int) -> set[str]:
    rows = await session.exec(select(MassSendBatch.status).where(MassSendBatch.mass_send_id == plan_id))
    return set(rows.all())


async def sends_between(session: AsyncSession, appid: str, start: datetime, end: datetime) -> int:
    """The account's mass sends planned in [start, end) that went or will go out."""
    statement = select(func.count()).where(
        MassSend.appid == appid,
        col(MassSend.status).in_(COUNTED),
        col(MassSend.scheduled_at) >= start,
        col(MassSend.scheduled_at) < end,
    )
    return int((await session.exec(statement)).one())


async def cancel_plan(session: AsyncSession, plan_id: int, *, by: str, now: datetime) -> MassSend | None:
    """Cancel a plan still waiting for its time; None when there is none such. Caller commits."""
    plan = await session.get(MassSend, plan_id)
    if plan is None or plan.status != "scheduled":
        return None
    plan.status, plan.finished_at, plan.error = "cancelled", now, f"cancelled by {by}"[:300]
    session.add(plan)
    return plan


@dataclass(frozen=True)
class PlanResults:
    """What WeChat reported (MASSSENDJOBFINISH) for the batches of one plan, summed."""

    batches: int
    reported: int
    total: int
    sent: int
    errors: int
    filtered: int


async def list_plans(session: AsyncSession, limit: int = 100) -> list[MassSend]:
    statement = select(MassSend).order_by(col(MassSend.scheduled_at).desc(), col(MassSend.id).desc()).limit(limit)
    return list((await session.exec(statement)).all())


async def plan_results(session: AsyncSession, plans: Sequence[MassSend]) -> dict[int, PlanResults]:
    """Per plan id: its batches and the counts WeChat reported for those it sent."""
    ids = [plan.id for plan in plans if plan.id is not None]
    if not ids:
        return {}
    batches = (
        await session.exec(
            select(MassSendBatch.mass_send_id, MassSendBatch.msg_id).where(col(MassSendBatch.mass_send_id).in_(ids))
        )
    ).all()
    appids = {plan.id: plan.appid for plan in plans}
    msg_ids = [msg_id for _, msg_id in batches if msg_id]
    reports: dict[tuple[str, str], MassSendResult] = {}
    if msg_ids:
        for row in (await session.exec(select(MassSendResult).where(col(MassSendResult.msg_id).in_(msg_ids)))).all():
            reports[(row.appid, row.msg_id)] = row
    found: dict[int, list[Any]] = {plan_id: [0, 0, 0, 0, 0, 0] for plan_id in ids}
    for plan_id, msg_id in batches:
        sums = found[plan_id]
        sums[0] += 1
        report = reports.get((appids[plan_id], msg_id)) if msg_id else None
        if report is not None:
            sums[1] += 1
            sums[2] += report.total_count
            sums[3] += report.sent_count
            sums[4] += report.error_count
            sums[5] += report.filter_count
    return {plan_id: PlanResults(*sums) for plan_id, sums in found.items()}


async def profile_of_follower(session: AsyncSession, follower_id: int) -> int | None:
    return (await session.exec(select(Follower.profile_id).where(Follower.id == follower_id))).first()


async def template_names(session: AsyncSession, version_ids: Sequence[int]) -> dict[int, str]:
    """The template name of each version id (for listing what each mass send sent)."""
    if not version_ids:
        return {}
    statement = select(TemplateVersion.id, Template.name).where(
        col(TemplateVersion.id).in_(version_ids), Template.id == TemplateVersion.template_id
    )
    return {vid: name for vid, name in (await session.exec(statement)).all() if vid is not None}


__all__ = [
    "COUNTED",
    "TAG_PREFIX",
    "PlanResults",
    "UnknownAudience",
    "add_batch",
    "audience",
    "batch_statuses",
    "cancel_plan",
    "due_plans",
    "drop_receipts",
    "list_plans",
    "marketing_consent",
    "open_batches",
    "plan_results",
    "plans_sending",
    "profile_of_follower",
    "receipts_in_month",
    "sends_between",
    "template_names",
]
