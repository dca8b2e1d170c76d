"""Tables of tracked links: the clicks on `/l/<token>` links, and the links' signing key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, partial_index


class LinkClick(SQLModel, table=True):
    """One counted click: a delivery's link opened by one visitor (a follower, or a browser's cookie).

    `visitor` is unique per delivery and link, so previews, prefetchers and repeated clicks count once:
    `f:<follower id>` when WeChat's web authorization told who opened it, `c:<random cookie>` when only
    the browser is known, NULL when the opener withdrew marketing consent (counted, never told apart).
    """

    __tablename__ = "link_clicks"
    __table_args__ = (
        Index("uq_link_clicks_visitor", "delivery_kind", "delivery_id", "link_index", "visitor", unique=True),
        partial_index("ix_link_clicks_follower_id", "follower_id"),
        Index("ix_link_clicks_journey_step", "journey_id", "step_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    delivery_kind: str = Field(max_length=16)  # push | mass_send | reply
    delivery_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    template_version_id: int
    link_index: int
    target: str = Field(max_length=1000)
    # The person who opened it, when known and consenting; never assumed to be the recipient.
    follower_id: int | None = Field(default=None)
    profile_id: int | None = Field(default=None, index=True)
    journey_id: int | None = Field(default=None)
    step_key: str = Field(default="", max_length=64)
    visitor: str | None = Field(default=None, max_length=64)
    # authorized (web authorization named the opener) | browser (no authorization) | untracked (no consent)
    via: str = Field(max_length=16)
    # The opener is not the follower the message went to (a forwarded link).
    forwarded: bool = Field(default=False)
    clicked_at: datetime = Field(sa_type=UTCDateTime)


class LinkKey(SQLModel, table=True):
    """The links' signing key when SCRM_DATA_KEY is not set: made once, shared by every process."""

    __tablename__ = "link_keys"
    id: int = Field(default=1, primary_key=True)
    key_hex: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
