"""Mass sends (群发): a news template broadcast to a segment through the openid-list mass-send API.

WeChat delivers at most 4 mass sends a month to a follower of a service account, so recipients are
counted per follower and China calendar month (`mass_send_receipts`) and those at 4 are left out.
Each batch of at most 10 000 openids carries a fixed `clientmsgid`: a batch found "sending" after a
crash is simply sent again, and WeChat answers 45065 (already sent) instead of sending twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import CHINA, Clock
from content.fields import empty_context
from content.templates import parse_body, render_body
from journeys.catalogue import published_template
from journeys.reactions import result_for_error
from publishing.links import LinkTracker
from storage.db import Database
from storage.models.consent import Consent
from storage.models.content import TemplateVersion
from storage.models.core import Follower, Profile
from storage.models.pushes import MassSend, MassSendBatch, MassSendReceipt
from storage.profile_list import SAVED_PREFIX, matching_ids, saved_segment
from wechat.api.errors import WeChatError

log = logging.getLogger(__name__)
BATCH_LIMIT = 10_000
MONTHLY_LIMIT = 4


class MassSendAPI(Protocol):
    async def mass_send(self, appid: str, payload: dict[str, Any]) -> str: ...
    async def upload_news(self, appid: str, articles: list[dict[str, Any]]) -> str: ...


class MassSendError(ValueError):
    """A mass send cannot be scheduled as asked (the message says why)."""


def china_month(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m")


def same_time_next_month(moment: datetime) -> datetime:
    """The same China-time day and hour next month (the 31st falls back to the month's last day)."""
    local = moment.astimezone(CHINA)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    for day in range(local.day, 27, -1):
        try:
            return local.replace(year=year, month=month, day=day).astimezone(moment.tzinfo)
        except ValueError:
            continue
    return local.replace(year=year, month=month, day=28).astimezone(moment.tzinfo)


@dataclass
class MassSendReport:
    batches_sent: int = 0
    batches_failed: int = 0
    recipients: int = 0


class MassSender:
    def __init__(self, db: Database, api: MassSendAPI, clock: Clock, *, links: LinkTracker | None = None) -> None:
        self.db = db
        self.api = api
        self.clock = clock
        # Rewrites the declared links of the news into tracked links of this mass send (the same for
        # every receiver: who opened one is known only through web authorization).
        self.links = links

    async def schedule(
        self, *, name: str, appid: str, template: str, segment: str, at: datetime, monthly: bool = False, by: str = ""
    ) -> MassSend:
        """Plan a broadcast of the published `template` (a mass_news template) to `segment` at `at`."""
        async with self.db.transaction() as session:
            published = await published_template(session, template)
            if published is None:
                raise MassSendError(f"template {template!r} does not exist or has no published version")
            if published.kind != "mass_news":
                raise MassSendError(
                    f"template {template!r} is a {published.kind} template; a mass send needs mass_news"
                )
            if segment.startswith(SAVED_PREFIX) and await saved_segment(session, segment[len(SAVED_PREFIX) :]) is None:
                raise MassSendError(f"there is no saved segment {segment[len(SAVED_PREFIX) :]!r}")
            plan = MassSend(
                name=name, appid=appid, template_version_id=published.version_id, segment=segment,
                scheduled_at=at, monthly=monthly, created_by=by, created_at=self.clock.now(),
            )  # fmt: skip
            session.add(plan)
        return plan

    async def run_due(self) -> MassSendReport:
        """Prepare due broadcasts into batches, then send every unsent batch (resending interrupted ones)."""
        now = self.clock.now()
        async with self.db.session() as session:
            due = (
                await session.exec(
                    select(MassSend).where(MassSend.status == "scheduled", col(MassSend.scheduled_at) <= now)
                )
            ).all()
        for plan in due:
            await self._prepare(plan)
        report = MassSendReport()
        async with self.db.session() as session:
            open_batches = (
                await session.exec(
                    select(MassSendBatch)
                    .where(col(MassSendBatch.status).in_(("pending", "sending")))
                    .order_by(col(MassSendBatch.id))
                )
            ).all()
        for batch in open_batches:
            await self._send_batch(batch, report)
        await self._finish_plans()
        return report

    async def _prepare(self, plan: MassSend) -> None:
        month = china_month(plan.scheduled_at)
        async with self.db.transaction() as session:
            statement = select(Follower.id, Follower.openid).where(
                Follower.appid == plan.appid, Follower.status == "subscribed"
            )
            if plan.segment.startswith(SAVED_PREFIX):
                # A saved profile-list filter, read as it is now (it may have been edited since scheduling).
                name = plan.segment[len(SAVED_PREFIX) :]
                spec = await saved_segment(session, name)
                if spec is None:
                    await self._fail(session, plan, f"saved segment {name!r} no longer exists")
                    return
                statement = statement.where(col(Follower.profile_id).in_(matching_ids(spec, self.clock.now())))
            elif plan.segment != "all":
                statement = statement.join(Profile, col(Profile.id) == col(Follower.profile_id)).where(
                    Profile.segment == plan.segment
                )
            candidates = list((await session.exec(statement)).all())
            ids = [fid for fid, _ in candidates if fid is not None]
            consents = await _marketing_consent(session, ids)
            counts = dict(
                (
                    await session.exec(
                        select(MassSendReceipt.follower_id, func.count())
                        .where(MassSendReceipt.month == month, col(MassSendReceipt.follower_id).in_(ids))
                        .group_by(col(MassSendReceipt.follower_id))
                    )
                ).all()
            )
            chosen = [(fid, oid) for fid, oid in candidates if fid and consents.get(fid)]
            allowed = [(fid, oid) for fid, oid in chosen if counts.get(fid, 0) < MONTHLY_LIMIT]
            for number, start in enumerate(range(0, len(allowed), BATCH_LIMIT), start=1):
                part = allowed[start : start + BATCH_LIMIT]
                batch = MassSendBatch(
                    mass_send_id=plan.id or 0, batch_no=number, clientmsgid=f"scrm-mass-{plan.id}-{number}",
                    follower_ids=[fid for fid, _ in part], openids=[oid for _, oid in part],
                )  # fmt: skip
                session.add(batch)
                await session.flush()
                for fid, _ in part:
                    session.add(
                        MassSendReceipt(mass_send_id=plan.id or 0, follower_id=fid, month=month, batch_id=batch.id or 0)
                    )
            stored = await session.get(MassSend, plan.id)
            if stored is not None:
                stored.status = "sending"
                stored.recipients = len(allowed)
                stored.skipped_monthly_limit = len(chosen) - len(allowed)
                session.add(stored)
        log.info(
            "mass send %s: %d recipients, %d left out (4 a month)", plan.name, len(allowed), len(chosen) - len(allowed)
        )

    @staticmethod
    async def _fail(session: AsyncSession, plan: MassSend, error: str) -> None:
        stored = await session.get(MassSend, plan.id)
        if stored is not None:
            stored.status, stored.error = "failed", error[:300]
            session.add(stored)
        log.error("mass send %s failed: %s", plan.name, error)

    async def _send_batch(self, batch: MassSendBatch, report: MassSendReport) -> None:
        async with self.db.transaction() as session:
            stored = await session.get(MassSendBatch, batch.id)
            plan = await session.get(MassSend, batch.mass_send_id)
            version = await session.get(TemplateVersion, plan.template_version_id) if plan else None
            if stored is None or plan is None or version is None:
                return
            # Marked before the call: a crash from here on leads to a resend with the same clientmsgid.
            stored.status, stored.attempts = "sending", stored.attempts + 1
            session.add(stored)
        now = self.clock.now()
        try:
            if len(batch.openids) < 2:
                # The openid-list API wants at least two receivers; a lone one is not worth a broadcast.
                raise MassSendError("fewer than two receivers")
            body = parse_body(version.body)
            message = render_body(body, empty_context())
            if self.links is not None and plan.id is not None and version.id is not None:
                message = self.links.track(
                    message, body, kind="m", delivery_id=plan.id, follower_id=None, version_id=version.id
                )
            media_id = await self.api.upload_news(plan.appid, list((message.payload or {}).get("articles", [])))
            payload = message.mass_send(media_id, openids=list(batch.openids), clientmsgid=batch.clientmsgid)
            msg_id = await self.api.mass_send(plan.appid, payload)
            outcome, errcode = "sent", None
        except WeChatError as error:
            result = result_for_error(error, now=now, api="mass")
            outcome = (
                "sent"
                if result.outcome == "sent"
                else ("pending" if result.outcome in ("retry", "paused") else "failed")
            )
            errcode, msg_id = result.errcode, ""
        except ValueError as error:
            log.error("mass send batch %s cannot be sent: %s", batch.clientmsgid, error)
            outcome, errcode, msg_id = "failed", None, ""
        async with self.db.transaction() as session:
            stored = await session.get(MassSendBatch, batch.id)
            if stored is None:
                return
            stored.status, stored.errcode, stored.msg_id = outcome, errcode, msg_id
            stored.sent_at = now if outcome == "sent" else None
            session.add(stored)
            if outcome == "failed":
                # Nobody received it, so it does not count against their 4 a month.
                for receipt in (
                    await session.exec(select(MassSendReceipt).where(MassSendReceipt.batch_id == batch.id))
                ).all():
                    await session.delete(receipt)
        if outcome == "sent":
            report.batches_sent += 1
            report.recipients += len(batch.openids)
        elif outcome == "failed":
            report.batches_failed += 1

    async def _finish_plans(self) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            sending = (await session.exec(select(MassSend).where(MassSend.status == "sending"))).all()
            for plan in sending:
                statuses = set(
                    (
                        await session.exec(select(MassSendBatch.status).where(MassSendBatch.mass_send_id == plan.id))
                    ).all()
                )
                if statuses & {"pending", "sending"}:
                    continue
                plan.status = "sent" if "sent" in statuses or not statuses else "failed"
                plan.finished_at = now
                session.add(plan)
                if not plan.monthly:
                    continue
                session.add(
                    MassSend(
                        name=plan.name, appid=plan.appid, template_version_id=plan.template_version_id,
                        segment=plan.segment, scheduled_at=same_time_next_month(plan.scheduled_at), monthly=True,
                        created_by=plan.created_by, created_at=now,
                    )
                )  # fmt: skip


async def _marketing_consent(session: Any, follower_ids: list[int]) -> dict[int, bool]:
    if not follower_ids:
        return {}
    newest = (
        select(func.max(Consent.id))
        .where(col(Consent.follower_id).in_(follower_ids), Consent.purpose == "marketing")
        .group_by(col(Consent.follower_id))
    )
    rows = (await session.exec(select(Consent.follower_id, Consent.granted).where(col(Consent.id).in_(newest)))).all()
    return {fid: bool(granted) for fid, granted in rows}
