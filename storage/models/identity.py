"""Tables of identity and privacy: conversation state, link history, SMS codes, review candidates, erasures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import JSONDoc, UTCDateTime


def _ts(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class ConversationRow(SQLModel, table=True):
    """The conversation state of one follower (binding flow, subscribe confirmation), and its lock lease.

    The row doubles as the cross-process lock: a process holds the follower while `lock_owner` is its
    token and `lock_until` is in the future (or, inside a caller's transaction, while it holds the row).
    """

    __tablename__ = "conversation_states"
    __table_args__ = (UniqueConstraint("appid", "openid", name="uq_conversation_states_appid_openid"),)
    id: int | None = Field(default=None, primary_key=True)
    appid: str = Field(max_length=32)
    openid: str = Field(max_length=64)
    flow: str | None = Field(default=None, max_length=40)
    step: str | None = Field(default=None, max_length=40)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    expires_at: datetime | None = _ts(default=None, nullable=True)
    lock_owner: str | None = Field(default=None, max_length=64)
    lock_until: datetime | None = _ts(default=None, nullable=True)
    updated_at: datetime = _ts()


class FollowerLink(SQLModel, table=True):
    """One period during which a follower was linked to a profile: the link history is never rewritten."""

    __tablename__ = "follower_links"
    __table_args__ = (Index("ix_follower_links_follower_open", "follower_id", "unlinked_at"),)
    id: int | None = Field(default=None, primary_key=True)
    follower_id: int = Field(foreign_key="followers.id")
    profile_id: int = Field(foreign_key="profiles.id", index=True)
    linked_at: datetime = _ts()
    unlinked_at: datetime | None = _ts(default=None, nullable=True)
    # sms_code | order_question | unionid | admin_review
    proof_method: str = Field(max_length=32)
    actor: str = Field(max_length=100)
    unlinked_by: str | None = Field(default=None, max_length=100)
    unlink_reason: str | None = Field(default=None, max_length=200)


class SmsCode(SQLModel, table=True):
    """A one-time code sent to a phone: only its hash is kept; at most 5 attempts, 5 minutes."""

    __tablename__ = "sms_codes"
    __table_args__ = (
        Index("ix_sms_codes_phone_sent", "phone_key", "sent_at"),
        Index("ix_sms_codes_follower_sent", "follower_id", "sent_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    follower_id: int = Field(foreign_key="followers.id")
    # The vault's lookup key of the number (HMAC with SCRM_DATA_KEY, else E.164).
    phone_key: str = Field(max_length=80)
    code_hash: str = Field(max_length=64)
    sent_at: datetime = _ts()
    expires_at: datetime = _ts()
    attempts: int = 0
    used_at: datetime | None = _ts(default=None, nullable=True)


class IdentityCandidate(SQLModel, table=True):
    """A weak match between an imported order (masked or virtual number) and a profile, for an admin.

    Only ids are kept here: names and cities are read from the order and the profile when listed, so an
    erasure of either side leaves nothing personal behind in this table.
    """

    __tablename__ = "identity_candidates"
    __table_args__ = (UniqueConstraint("order_id", "profile_id", name="uq_identity_candidates_order_profile"),)
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(index=True)
    profile_id: int = Field(foreign_key="profiles.id", index=True)
    status: str = Field(default="pending", max_length=16)  # pending | confirmed | rejected
    found_at: datetime = _ts()
    decided_at: datetime | None = _ts(default=None, nullable=True)
    decided_by: str | None = Field(default=None, max_length=100)


class Erasure(SQLModel, table=True):
    """The record that a person's data was erased: a keyed hash of the number, never the number."""

    __tablename__ = "erasures"
    id: int | None = Field(default=None, primary_key=True)
    subject_hash: str = Field(max_length=64, index=True)
    profile_id: int | None = Field(default=None)
    erased_at: datetime = _ts()
    actor: str = Field(max_length=100)
    # Counts of rows touched per table: what was done, without what was there.
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
