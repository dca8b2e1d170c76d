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

from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import CHINA, Clock
from content.fields import empty_context
from content.templates import parse_body, render_body
from journeys.mass_plans import MONTHLY_LIMIT, MassSendError, china_month, schedule_mass_send
from journeys.reactions import result_for_error
from publishing.links import LinkTracker
from storage import mass_sends as store
from storage.db import Database
from storage.models.content import TemplateVersion
from storage.models.pushes import MassSend, MassSendBatch
from wechat.api.errors import WeChatError

log = logging.getLogger(__name__)
BATCH_LIMIT = 10_000


class MassSendAPI(Protocol):
    async def mass_send(self, appid: str, payload: dict[str, Any]) -> str: ...
    async def upload_news(self, appid: str, articles: list[dict[str, Any]]) -> str: ...


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
        return await schedule_mass_send(
            self.db, name=name, appid=appid, template=template, segment=segment, at=at, now=self.clock.now(),
            monthly=monthly, by=by,
        )  # fmt: skip

    async def run_due(self) -> MassSendReport:
        """Prepare due broadcasts into batches, then send every unsent batch (resending interrupted ones)."""
        async with self.db.session() as session:
            due = await store.due_plans(session, self.clock.now())
        for plan in due:
            await self._prepare(plan)
        report = MassSendReport()
        async with self.db.session() as session:
            batches = await store.open_batches(session)
        for batch in batches:
            await self._send_batch(batch, report)
        await self._finish_plans()
        return report

    async def _prepare(self, plan: MassSend) -> None:
        month = china_month(plan.scheduled_at)
        async with self.db.transaction() as session:
            try:
                # A saved segment is read as it is now (it may have been edited since scheduling).
                candidates = await store.audience(session, plan.appid, plan.segment, self.clock.now())
            except store.UnknownAudience as missing:
                await self._fail(session, plan, f"saved segment {missing.args[0]!r} no longer exists")
                return
            ids = [fid for fid, _ in candidates]
            consents = await store.marketing_consent(session, ids)
            counts = await store.receipts_in_month(session, month, ids)
            chosen = [(fid, oid) for fid, oid in candidates if consents.get(fid)]
            allowed = [(fid, oid) for fid, oid in chosen if counts.get(fid, 0) < MONTHLY_LIMIT]
            for number, start in enumerate(range(0, len(allowed), BATCH_LIMIT), start=1):
                await store.add_batch(session, plan.id or 0, number, allowed[start : start + BATCH_LIMIT], month)
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
                await store.drop_receipts(session, batch.id or 0)
        if outcome == "sent":
            report.batches_sent += 1
            report.recipients += len(batch.openids)
        elif outcome == "failed":
            report.batches_failed += 1

    async def _finish_plans(self) -> None:
        now = self.clock.now()
        async with self.db.transaction() as session:
            for plan in await store.plans_sending(session):
                statuses = await store.batch_statuses(session, plan.id or 0)
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


__all__ = ["BATCH_LIMIT", "MONTHLY_LIMIT", "MassSendAPI", "MassSendError", "MassSendReport", "MassSender"]
