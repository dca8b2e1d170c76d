"""Tables of the foundation: accounts, followers, profiles, inbound events, tokens, domain events, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import JSONDoc, UTCDateTime, partial_index


def _ts(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class Account(SQLModel, table=True):
    """A WeChat official account served by this deployment."""

    __tablename__ = "accounts"
    id: int | None = Field(default=None, primary_key=True)
    appid: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(default="", max_length=100)
    token: str = Field(default="", max_length=64)
    aes_key: str = Field(default="", max_length=64)
    appsecret: str = Field(default="", max_length=64)
    # "service" (verified service account: template messages, 4 mass sends a month) or "subscription".
    kind: str = Field(default="service", max_length=16)
    is_default: bool = Field(default=False)
    created_at: datetime = _ts()


class Profile(SQLModel, table=True):
    """A person, keyed by their E.164 mobile number (through the phone vault's lookup key)."""

    __tablename__ = "profiles"
    __table_args__ = (
        # Partial: the few profiles an import may still give a name or city (storage.profiles.lacking_details).
        Index(
            "ix_profiles_lacking_details",
            "phone_key",
            sqlite_where=text("name IS NULL OR city IS NULL"),
            postgresql_where=text("name IS NULL OR city IS NULL"),
        ),
        # The console's profile list walks one of these in its sort order and stops after a page
        # (storage.profile_list); PostgreSQL needs the order spelled out, NULLs last.
        Index(
            "ix_profiles_last_order",
            "last_order_at",
            "id",
            postgresql_ops={"last_order_at": "DESC NULLS LAST", "id": "DESC"},
        ),
        Index("ix_profiles_spend", "total_spent_fen", "id"),
        Index("ix_profiles_orders", "order_count", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # Lookup key: HMAC of the E.164 number when SCRM_DATA_KEY is set, else the E.164 number itself.
    phone_key: str = Field(max_length=80, unique=True, index=True)
    # The number itself: encrypted when SCRM_DATA_KEY is set, else E.164 in clear.
    phone_sealed: str = Field(max_length=200)
    phone_masked: str = Field(default="", max_length=20)
    name: str | None = Field(default=None, max_length=100)
    city: str | None = Field(default=None, max_length=60)
    order_count: int = 0
    total_spent_fen: int = 0
    avg_order_fen: int = 0
    first_order_at: datetime | None = _ts(default=None, nullable=True)
    last_order_at: datetime | None = _ts(default=None, nullable=True)
    last_product: str | None = Field(default=None, max_length=200)
    top_products: list[str] = Field(default_factory=list, sa_column=Column(JSONDoc, nullable=False))
    r_score: int = 0
    f_score: int = 0
    m_score: int = 0
    segment: str = Field(default="prospect", max_length=24, index=True)
    lifecycle_stage: str = Field(default="prospect", max_length=24)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONDoc, nullable=False))
    erased_at: datetime | None = _ts(default=None, nullable=True)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Follower(SQLModel, table=True):
    """A WeChat user of one official account (openid), possibly linked to a profile."""

    __tablename__ = "followers"
    __table_args__ = (UniqueConstraint("appid", "openid", name="uq_followers_appid_openid"),)
    id: int | None = Field(default=None, primary_key=True)
    appid: str = Field(max_length=32, index=True)
    openid: str = Field(max_length=64)
    unionid: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(default="subscribed", max_length=16)  # subscribed | unsubscribed | blocked | gone
    subscribed_at: datetime | None = _ts(default=None, nullable=True)
    unsubscribed_at: datetime | None = _ts(default=None, nullable=True)
    # The QR scene of the follow (channel attribution), and the last scene scanned.
    channel_scene: str | None = Field(default=None, max_length=64, index=True)
    last_scan_scene: str | None = Field(default=None, max_length=64)
    last_interaction_at: datetime | None = _ts(default=None, nullable=True)
    last_interaction_kind: str | None = Field(default=None, max_length=40)
    # Customer-service windows: a message opens 48 h / 5 sends; a follow, click or scan 1 min / 3 sends.
    last_message_at: datetime | None = _ts(default=None, nullable=True)
    last_event_at: datetime | None = _ts(default=None, nullable=True)
    profile_id: int | None = Field(default=None, foreign_key="profiles.id", index=True)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSONDoc, nullable=False))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class InboundEvent(SQLModel, table=True):
    """One delivery of a callback, unique by its de-duplication key across all gateway processes."""

    __tablename__ = "inbound_events"
    id: int | None = Field(default=None, primary_key=True)
    dedup_key: str = Field(max_length=255, unique=True)
    appid: str = Field(max_length=32)
    openid: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=64)  # the dispatch key: "text", "event.subscribe", ...
    msg_id: str | None = Field(default=None, max_length=64)
    received_at: datetime = _ts(index=True)
    # processing -> done; a retry finding "processing" waits for, then reuses, the first reply.
    state: str = Field(default="processing", max_length=16)
    # The reply as a JSON document (see wechat.replies); null when the answer was "success".
    reply: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONDoc, nullable=True))
    # "inline" when the reply went back in the HTTP answer, "api" when sent later, "none".
    delivered_via: str = Field(default="none", max_length=16)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    finished_at: datetime | None = _ts(default=None, nullable=True)


class AccessToken(SQLModel, table=True):
    """The one access token of an account, shared by every process."""

    __tablename__ = "access_tokens"
    appid: str = Field(primary_key=True, max_length=32)
    token: str = Field(default="", max_length=600)
    expires_at: datetime | None = _ts(default=None, nullable=True)
    refreshed_at: datetime | None = _ts(default=None, nullable=True)
    # A short lease taken by the process that refreshes, so the others wait instead of fetching too.
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _ts(default=None, nullable=True)


class DomainEvent(SQLModel, table=True):
    """Something that happened to a person that journeys react to (followed, phone bound, purchase...)."""

    __tablename__ = "domain_events"
    __table_args__ = (
        # The queue: only the waiting events, by id (claimed oldest first). A full index of processed_at
        # made PostgreSQL read and sort every waiting event per claim after a big import.
        Index(
            "ix_domain_events_waiting",
            "id",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
        # The follower lane of that queue, claimed first (journeys/enrolment.py): events about a follower
        # must not wait behind an import's backlog of events about profiles.
        Index(
            "ix_domain_events_waiting_followers",
            "id",
            sqlite_where=text("processed_at IS NULL AND follower_id IS NOT NULL"),
            postgresql_where=text("processed_at IS NULL AND follower_id IS NOT NULL"),
        ),
        # Partial: imports write most events, and none of theirs has a follower (they are per profile).
        partial_index("ix_domain_events_follower_id", "follower_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # Not indexed: events are read by id (the unprocessed queue) or by person, never by kind alone.
    kind: str = Field(max_length=40)
    occurred_at: datetime = _ts()
    appid: str | None = Field(default=None, max_length=32)
    follower_id: int | None = None
    profile_id: int | None = Field(default=None, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    # Unique when set, so a re-run import cannot emit the same event twice.
    dedup_key: str | None = Field(default=None, max_length=255, unique=True)
    processed_at: datetime | None = _ts(default=None, nullable=True)


class AuditEntry(SQLModel, table=True):
    """Who did what to whom: links, unlinks, erasures, admin actions."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=60, index=True)
    target: str = Field(default="", max_length=200)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
