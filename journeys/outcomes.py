"""Recording what happened to each push of a batch, in one transaction per batch.

Each claimed push gets its new state (final, or pending again with a later due time), an outcome
record, and the side effects its error code calls for: the follower marked, its other pushes
cancelled, an API paused for every process, a consent revoked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from journeys.reactions import SendResult
from storage.db import Database
from storage.engagement import insert_template_receipts
from storage.journeys import revoke_consent, set_follower_status
from storage.pushes import apply_outcomes, cancel_open_pushes, insert_attempts, pause_api

if TYPE_CHECKING:
    from journeys.dispatcher import DispatcherConfig

log = logging.getLogger(__name__)

# Decision actions that end a push without calling WeChat.
_FINAL_WITHOUT_SEND = {"expire": ("expired", "expired"), "skip": ("skipped", "skipped")}
# Push fields an outcome writes only when it changes them (the others are always written).
_KEPT_UNLESS_CHANGED = frozenset({"due_at", "held_at", "attempts"})


@dataclass
class BatchReport:
    """How many pushes of a batch (or of several) ended up in each outcome."""

    claimed: int = 0
    sent: int = 0
    held: int = 0
    deferred: int = 0
    retried: int = 0
    paused: int = 0
    expired: int = 0
    skipped: int = 0
    failed: int = 0
    unknown: int = 0

    def add(self, other: BatchReport) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_dict(self) -> dict[str, int]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


class _Plan(Protocol):
    @property
    def row(self) -> Any: ...
    @property
    def decision(self) -> Any: ...
    @property
    def result(self) -> SendResult | None: ...


def _channel(action: str) -> str:
    return {"send_custom": "custom", "send_template": "template"}.get(action, "")


class OutcomeWriter:
    """Turns decisions and send results into rows."""

    def __init__(self, db: Database, config: DispatcherConfig) -> None:
        self.db = db
        self.config = config

    def backoff(self, attempts: int) -> timedelta:
        """30 s, 60 s, 120 s... for the n-th retry (bounded by max_attempts)."""
        base: timedelta = self.config.backoff_base
        return base * int(2 ** max(0, attempts - 1))

    async def write(
        self, plans: Sequence[_Plan], token: str, *, now: datetime, report: BatchReport | None = None
    ) -> BatchReport:
        """Record the outcome of `plans` in one transaction; counts them in `report` (a new one by default)."""
        report = report or BatchReport(claimed=len(plans))
        async with self.db.engine.begin() as conn:
            await self.record(conn, plans, token, now=now, report=report)
        return report

    async def record(
        self, conn: AsyncConnection, plans: Sequence[_Plan], token: str, *, now: datetime, report: BatchReport
    ) -> None:
        """Record the outcome of `plans` inside the caller's transaction, counting them in `report`."""
        if not plans:
            return
        outcomes: list[dict[str, Any]] = []
        records: list[dict[str, Any]] = []
        effects: list[tuple[dict[str, Any], SendResult]] = []
        receipts: list[dict[str, Any]] = []
        for plan in plans:
            row = plan.row
            new: dict[str, Any] = {
                "push_id": row["id"], "status": "pending", "due_at": row["due_at"], "channel": "",
                "errcode": None, "reason": plan.decision.reason[:200], "held_at": row["held_at"],
                "sent_at": None, "finished_at": None, "attempts": row["attempts"],
            }  # fmt: skip
            outcome = self._fill(new, plan, now, report)
            # Unchanged fields stay out, so pushes with the same fate share one UPDATE.
            outcomes.append({k: v for k, v in new.items() if k not in _KEPT_UNLESS_CHANGED or v != row[k]})
            records.append(
                {"push_id": row["id"], "at": now, "outcome": outcome, "channel": new["channel"],
                 "errcode": new["errcode"], "reason": new["reason"]}
            )  # fmt: skip
            if outcome == "sent" and plan.result is not None and plan.result.msg_id:
                receipts.append(
                    {"appid": row["appid"], "msg_id": plan.result.msg_id[:64], "push_id": row["id"],
                     "follower_id": row["follower_id"], "sent_at": now}
                )  # fmt: skip
            if plan.result is not None and (
                plan.result.follower_status or plan.result.pause_until or plan.result.revoke_consent
            ):
                effects.append((dict(row), plan.result))
        await apply_outcomes(conn, outcomes, token=token)
        await insert_attempts(conn, records)
        await insert_template_receipts(conn, receipts)
        for row, result in effects:
            await self._side_effects(conn, row, result, now=now)

    def _fill(self, new: dict[str, Any], plan: _Plan, now: datetime, report: BatchReport) -> str:
        """Set the push's new fields from its decision and result; return the outcome record's name."""
        action = plan.decision.action
        if action in _FINAL_WITHOUT_SEND:
            status, name = _FINAL_WITHOUT_SEND[action]
            new.update(status=status, finished_at=now)
            setattr(report, name, getattr(report, name) + 1)
            return status
        if action == "defer":
            new.update(due_at=plan.decision.due_at)
            report.deferred += 1
            return "deferred"
        if action == "hold":
            new.update(status="held", held_at=now)
            report.held += 1
            return "held"
        result = plan.result or SendResult("unknown", "no result recorded")
        new.update(
            channel=_channel(action), errcode=result.errcode, reason=(result.reason or plan.decision.reason)[:200]
        )
        if result.outcome == "sent":
            new.update(status="sent", sent_at=now, finished_at=now)
            report.sent += 1
            return "sent"
        if result.outcome == "held":
            new.update(status="held", held_at=now)
            report.held += 1
            return "held"
        if result.outcome == "paused":
            new.update(due_at=result.pause_until or now + timedelta(minutes=1))
            report.paused += 1
            return "paused"
        if result.outcome == "retry":
            attempts = int(new["attempts"]) + 1
            new["attempts"] = attempts
            if attempts >= self.config.max_attempts:
                new.update(
                    status="failed", finished_at=now, reason=f"gave up after {attempts} attempts: {new['reason']}"[:200]
                )
                report.failed += 1
                return "failed"
            new.update(due_at=now + (result.retry_after or self.backoff(attempts)))
            report.retried += 1
            return "retry"
        status = {"skipped": "skipped", "failed": "failed"}.get(result.outcome, "unknown")
        new.update(status=status, finished_at=now)
        setattr(report, status, getattr(report, status) + 1)
        return status

    async def _side_effects(
        self, conn: AsyncConnection, row: dict[str, Any], result: SendResult, *, now: datetime
    ) -> None:
        follower_id = int(row["follower_id"])
        if result.follower_status:
            await set_follower_status(conn, follower_id, result.follower_status, now=now)
            await cancel_open_pushes(
                conn,
                now=now,
                follower_id=follower_id,
                reason=f"follower is {result.follower_status} ({result.errcode})",
            )
            log.info("follower %s marked %s after WeChat %s", follower_id, result.follower_status, result.errcode)
        if result.pause_until is not None and result.errcode is not None:
            api = "template" if row.get("template_kind") == "wechat_template" else "custom"
            await pause_api(
                conn, api=api, until=result.pause_until, errcode=result.errcode, reason=result.reason, now=now
            )
        if result.revoke_consent:
            await revoke_consent(
                conn, follower_id=follower_id, profile_id=row.get("profile_id"), purpose=result.revoke_consent,
                source=f"wechat_{result.errcode}", now=now,
            )  # fmt: skip
