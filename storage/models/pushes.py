"""Tables of journeys at run time: runs, the push outbox, outcomes, mass sends, attribution, leases.

A push moves through these states (final ones in capitals):

    pending --claim--> claimed --checks pass--> sending --API ok--> SENT
       ^                  |                        |--API error--> pending (retry) | held | FAILED | SKIPPED
       |                  |--window closed----> held --interaction--> pending
       |                  |--cap / quiet hours--> pending (later due time)
       |                  |--opted out, gone---> SKIPPED
       |-- claimed too long (process died before any API call) --|
    pending | held --expiry passed--> EXPIRED;  goal reached / unfollowed / opt-out --> CANCELLED
    sending found after a crash --> UNKNOWN (never resent: custom sends have no idempotency key)

Only the earliest open push of a journey run can be claimed, so a run's steps go out in their order. A
claimed push becomes "sending" right before its API call, in small groups (at most the dispatcher's
`in_flight` at once), and its checks are taken again then, under the follower's lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import JSONDoc, UTCDateTime

FINAL_STATES = ("sent", "expired", "skipped", "failed", "cancelled", "unknown")
OPEN_STATES = ("pending", "held", "claimed", "sending")
# The rows of the open-steps index (below): literal states of our own, never input.
_OPEN = text(f"status IN ({', '.join(repr(state) for state in OPEN_STATES)})")


def _ts(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class JourneyRun(SQLModel, table=True):
    """One follower's pass through one journey; `step_id` is where it stands, `resume_at` when it moves on."""

    __tablename__ = "journey_runs"
    __table_args__ = (
        # At most one active run per follower and journey, whatever the re-entry rule says.
        Index(
            "uq_journey_runs_active",
            "journey_id",
            "follower_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_journey_runs_follower_state", "follower_id", "state"),
        Index("ix_journey_runs_state_resume", "state", "resume_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    journey_id: int = Field(index=True)
    journey_name: str = Field(max_length=100)
    journey_version: int = 1
    follower_id: int
    profile_id: int | None = Field(default=None, index=True)
    # active | completed (ran out of steps or reached an exit step) | goal_reached | exited
    state: str = Field(default="active", max_length=16)
    # The step the run waits at (a wait step) or will run next; empty once it ended.
    step_id: str = Field(default="", max_length=64)
    resume_at: datetime | None = _ts(default=None, nullable=True)
    # Send steps planned so far (pushes created), for the report's funnel.
    sends_planned: int = 0
    trigger_event_id: int | None = Field(default=None)
    # What the trigger carried (order number, product, scene...) for personal fields.
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    entered_at: datetime = _ts()
    ended_at: datetime | None = _ts(default=None, nullable=True)
    end_reason: str = Field(default="", max_length=100)


class Push(SQLModel, table=True):
    """One message in the durable outbox."""

    __tablename__ = "pushes"
    __table_args__ = (
        # A claim's order (storage.pushes.claim_due_pushes): with the id, PostgreSQL walks it and stops at the
        # claim's limit, where (status, due_at) made it read and sort every due push.
        Index("ix_pushes_claim_order", "status", "due_at", "id"),
        Index("ix_pushes_follower_status", "follower_id", "status"),
        Index("ix_pushes_follower_sent", "follower_id", "sent_at"),
        Index("ix_pushes_run", "run_id"),
        # The open steps of each run: a claim asks of every candidate whether an earlier step of its run
        # is still open (storage.pushes), and this answers from a small index whatever the planner's
        # statistics. Without it, PostgreSQL read every open push per candidate on a never-analyzed table.
        Index("ix_pushes_open_run", "run_id", "id", sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ix_pushes_claim", "claim_token"),
    )
    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None)
    journey_id: int | None = Field(default=None, index=True)
    step_index: int = 0
    step_key: str = Field(default="", max_length=64)
    follower_id: int
    profile_id: int | None = Field(default=None)
    appid: str = Field(max_length=32)
    openid: str = Field(max_length=64)
    template_version_id: int
    template_kind: str = Field(default="text", max_length=20)
    purpose: str = Field(default="marketing", max_length=16)  # marketing | service
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    # The journey's own quiet hours (China time "HH:MM"), on top of the brand's; empty = brand's only.
    quiet_start: str = Field(default="", max_length=5)
    quiet_end: str = Field(default="", max_length=5)
    due_at: datetime = _ts()
    expires_at: datetime | None = _ts(default=None, nullable=True)
    status: str = Field(default="pending", max_length=16)
    claim_token: str | None = Field(default=None, max_length=40)
    claimed_at: datetime | None = _ts(default=None, nullable=True)
    attempts: int = 0
    channel: str = Field(default="", max_length=16)  # custom | template
    errcode: int | None = Field(default=None)
    reason: str = Field(default="", max_length=200)
    held_at: datetime | None = _ts(default=None, nullable=True)
    sent_at: datetime | None = _ts(default=None, nullable=True)
    finished_at: datetime | None = _ts(default=None, nullable=True)
    created_at: datetime = _ts()


class PushAttempt(SQLModel, table=True):
    """Every decision the dispatcher took about a push: the audit trail behind its status."""

    __tablename__ = "push_attempts"
    id: int | None = Field(default=None, primary_key=True)
    push_id: int = Field(index=True)
    at: datetime = _ts()
    # sent | held | deferred | retry | expired | skipped | failed | cancelled | unknown | released
    outcome: str = Field(max_length=16)
    channel: str = Field(default="", max_length=16)
    errcode: int | None = Field(default=None)
    reason: str = Field(default="", max_length=200)


class ApiPause(SQLModel, table=True):
    """An outbound API that must not be called until `until` (quota exhausted, account banned...)."""

    __tablename__ = "api_pauses"
    api: str = Field(primary_key=True, max_length=32)  # custom | template | mass
    until: datetime = _ts()
    errcode: int | None = Field(default=None)
    reason: str = Field(default="", max_length=200)
    since: datetime = _ts()


class SchedulerLease(SQLModel, table=True):
    """Who runs the scheduler: the holder renews `expires_at`; anyone may take an expired lease."""

    __tablename__ = "scheduler_leases"
    name: str = Field(primary_key=True, max_length=40)
    holder: str = Field(max_length=100)
    acquired_at: datetime = _ts()
    expires_at: datetime = _ts()


class MassSend(SQLModel, table=True):
    """A broadcast of a news template to a segment through the mass-send API, on a planned date."""

    __tablename__ = "mass_sends"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    appid: str = Field(max_length=32)
    template_version_id: int
    segment: str = Field(max_length=40)  # a profile segment, or "all"
    scheduled_at: datetime = _ts(index=True)
    monthly: bool = Field(default=False)
    # scheduled | sending | sent | failed | cancelled
    status: str = Field(default="scheduled", max_length=16)
    recipients: int = 0
    skipped_monthly_limit: int = 0
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = _ts()
    finished_at: datetime | None = _ts(default=None, nullable=True)
    error: str = Field(default="", max_length=300)


class MassSendBatch(SQLModel, table=True):
    """Up to 10 000 openids sent in one call; `clientmsgid` makes a resend after a crash safe."""

    __tablename__ = "mass_send_batches"
    id: int | None = Field(default=None, primary_key=True)
    mass_send_id: int = Field(index=True)
    batch_no: int
    clientmsgid: str = Field(max_length=64, unique=True)
    follower_ids: list[int] = Field(default_factory=list, sa_column=Column(JSONDoc, nullable=False))
    openids: list[str] = Field(default_factory=list, sa_column=Column(JSONDoc, nullable=False))
    # pending | sending | sent | failed
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    msg_id: str = Field(default="", max_length=64)
    errcode: int | None = Field(default=None)
    sent_at: datetime | None = _ts(default=None, nullable=True)


class MassSendReceipt(SQLModel, table=True):
    """One follower counted in one mass send, for WeChat's 4-a-month limit (China calendar month)."""

    __tablename__ = "mass_send_receipts"
    __table_args__ = (
        UniqueConstraint("mass_send_id", "follower_id", name="uq_mass_send_receipts"),
        Index("ix_mass_send_receipts_month", "follower_id", "month"),
    )
    id: int | None = Field(default=None, primary_key=True)
    mass_send_id: int
    follower_id: int
    month: str = Field(max_length=7)  # YYYY-MM in China time
    batch_id: int


class PushAttribution(SQLModel, table=True):
    """An order credited to the last push its buyer received within the attribution window."""

    __tablename__ = "push_attributions"
    __table_args__ = (UniqueConstraint("platform", "order_no", name="uq_push_attributions_order"),)
    id: int | None = Field(default=None, primary_key=True)
    push_id: int = Field(index=True)
    journey_id: int | None = Field(default=None, index=True)
    step_index: int = 0
    profile_id: int
    platform: str = Field(max_length=20)
    order_no: str = Field(max_length=80)
    amount_fen: int = 0
    refunded: bool = Field(default=False)
    ordered_at: datetime = _ts()
    attributed_at: datetime = _ts()
