"""Tables of content: message templates and their versions, journeys, coupon pools, reply rules.

Editors write these (YAML files loaded with `scrm content load`, or the console); the dispatcher reads
published template versions and journey definitions, and records the exact version each push rendered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import JSONDoc, UTCDateTime

PURPOSES = ("marketing", "service")
VERSION_STATES = ("draft", "published")


class Template(SQLModel, table=True):
    """A named message template; `current_version_id` is the published version pushes render."""

    __tablename__ = "templates"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    kind: str = Field(max_length=20)  # one of content.templates.TEMPLATE_KINDS
    purpose: str = Field(default="marketing", max_length=16)  # marketing | service
    description: str = Field(default="", max_length=300)
    # No foreign key: templates and versions point at each other, and a plain id keeps creation simple.
    current_version_id: int | None = Field(default=None, nullable=True)
    # The body being edited and not yet published (null when the newest version is published).
    draft_body: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONDoc, nullable=True))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str = Field(default="", max_length=100)


class TemplateVersion(SQLModel, table=True):
    """One saved body of a template. Published versions never change; a push records the id it rendered.

    `body` is self-contained (kind, purpose, fields, fallbacks) so a version renders without its template.
    """

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_template_versions_number"),)
    id: int | None = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="templates.id", index=True)
    version: int
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    # SHA-256 of the canonical JSON of `body`: an unchanged save makes no new version.
    content_hash: str = Field(max_length=64)
    state: str = Field(default="draft", max_length=16)  # draft | published
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=100)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class Journey(SQLModel, table=True):
    """A journey definition (content.model.JourneyDefinition as JSON): the live one, published as
    version `version` of its `journey_versions` (0: a console draft never published).

    `source` says where the live definition came from (yaml | console); `yaml_hash` is the hash of the
    YAML file's definition when it was last loaded. A console edit wins over the YAML file until that
    file changes (publishing.journey_versions).
    """

    __tablename__ = "journeys"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    title: str = Field(default="", max_length=200)
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    version: int = 1
    enabled: bool = Field(default=True)
    content_hash: str = Field(max_length=64)
    source: str = Field(default="yaml", max_length=16)
    yaml_hash: str | None = Field(default=None, max_length=64, nullable=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str = Field(default="", max_length=100)


class JourneyVersion(SQLModel, table=True):
    """One saved definition of a journey: a console draft, or a version that was published (live once)."""

    __tablename__ = "journey_versions"
    __table_args__ = (UniqueConstraint("journey_id", "version", name="uq_journey_versions_number"),)
    id: int | None = Field(default=None, primary_key=True)
    journey_id: int = Field(foreign_key="journeys.id", index=True)
    version: int
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    content_hash: str = Field(max_length=64)
    state: str = Field(default="draft", max_length=16)  # draft | published
    source: str = Field(default="console", max_length=16)  # yaml | console
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(default="", max_length=100)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class CouponPool(SQLModel, table=True):
    """A list of single-use coupon codes an editor loaded; `low_stock` is the flag the console shows."""

    __tablename__ = "coupon_pools"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    description: str = Field(default="", max_length=300)
    # Warn (log + `low_stock`) once the unclaimed codes fall to this many or fewer.
    low_water_mark: int = 50
    low_stock: bool = Field(default=False)
    created_at: datetime = Field(sa_type=UTCDateTime)


class CouponCode(SQLModel, table=True):
    """One code of a pool; claimed atomically by exactly one push (idempotent per push id)."""

    __tablename__ = "coupon_codes"
    __table_args__ = (
        UniqueConstraint("pool_id", "code", name="uq_coupon_codes_pool_code"),
        # A push holds at most one code of a pool, so drawing again for it finds the same code.
        UniqueConstraint("pool_id", "claimed_by_push_id", name="uq_coupon_codes_pool_push"),
        Index("ix_coupon_codes_pool_free", "pool_id", "claimed_by_push_id", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    pool_id: int = Field(foreign_key="coupon_pools.id")
    code: str = Field(max_length=64)
    # The push (journeys outbox id) that drew this code; no foreign key so pools do not depend on it.
    claimed_by_push_id: int | None = Field(default=None, nullable=True)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    follower_id: int | None = Field(default=None, nullable=True)
    loaded_at: datetime = Field(sa_type=UTCDateTime)


class ReplyRule(SQLModel, table=True):
    """An automatic reply: welcome (optionally per QR scene), keyword, menu key, scan, or help.

    `appid` empty means every account. The reply is the published version of `template_name`.
    """

    __tablename__ = "reply_rules"
    __table_args__ = (Index("ix_reply_rules_kind_key", "kind", "match_key"),)
    id: int | None = Field(default=None, primary_key=True)
    appid: str = Field(default="", max_length=32)
    kind: str = Field(max_length=16)  # welcome | keyword | menu | scan | help
    # Keyword text, menu key or QR scene; empty for the default welcome and help.
    match_key: str = Field(default="", max_length=100)
    match_mode: str = Field(default="exact", max_length=16)  # exact | contains (keywords)
    template_name: str = Field(max_length=100)
    priority: int = 0
    updated_at: datetime = Field(sa_type=UTCDateTime)
