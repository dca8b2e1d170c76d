"""What WeChat tells us afterwards about what we sent: template-message and mass-send results.

A template send answers at once with a `msgid`; whether the message reached the follower arrives later as
a TEMPLATESENDJOBFINISH event carrying that msgid. A mass send's MASSSENDJOBFINISH carries its counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import JSONDoc, UTCDateTime


def _ts(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class TemplateReceipt(SQLModel, table=True):
    """A template message WeChat accepted, by its msgid; `status` is empty until WeChat reports the result."""

    __tablename__ = "template_receipts"
    __table_args__ = (UniqueConstraint("appid", "msg_id", name="uq_template_receipts"),)
    id: int | None = Field(default=None, primary_key=True)
    appid: str = Field(max_length=32)
    msg_id: str = Field(max_length=64)
    push_id: int = Field(index=True)
    follower_id: int = Field(index=True)
    sent_at: datetime = _ts()
    # success | failed:user block | failed:system failed (WeChat's words), once reported
    status: str = Field(default="", max_length=40)
    reported_at: datetime | None = _ts(default=None, nullable=True)


class MassSendResult(SQLModel, table=True):
    """WeChat's report on one mass-send call (one batch), by the msg_id its answer carried."""

    __tablename__ = "mass_send_results"
    __table_args__ = (UniqueConstraint("appid", "msg_id", name="uq_mass_send_results"),)
    id: int | None = Field(default=None, primary_key=True)
    appid: str = Field(max_length=32)
    msg_id: str = Field(max_length=64)
    status: str = Field(max_length=80)
    total_count: int = 0
    filter_count: int = 0
    sent_count: int = 0
    error_count: int = 0
    reported_at: datetime = _ts()


class Channel(SQLModel, table=True):
    """A parametric QR code for a store, an event or a campaign: followers who scan it carry its scene."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("appid", "scene", name="uq_channels_scene"),)
    id: int | None = Field(default=None, primary_key=True)
    appid: str = Field(max_length=32)
    name: str = Field(max_length=100)
    # The scene string in the QR code; a follow through it sets `followers.channel_scene` to this.
    scene: str = Field(max_length=64)
    permanent: bool = False
    ticket: str = Field(max_length=200)
    # What the QR code encodes (WeChat's short URL); the PNG is drawn from it.
    url: str = Field(max_length=300)
    expires_at: datetime | None = _ts(default=None, nullable=True)
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = _ts()


class SavedSegment(SQLModel, table=True):
    """A profile-list filter kept under a name: a mass send's target (`saved:<name>`), reusable in the console."""

    __tablename__ = "saved_segments"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40, unique=True)
    # storage.profile_list.ProfileFilter.to_doc()
    filter: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class CustomMenu(SQLModel, table=True):
    """The account's custom menu as edited (`menu`, WeChat's shape) and as last published to WeChat."""

    __tablename__ = "custom_menus"
    appid: str = Field(primary_key=True, max_length=32)
    menu: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    updated_by: str = Field(default="", max_length=100)
    updated_at: datetime = _ts()
    published: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONDoc, nullable=True))
    published_by: str = Field(default="", max_length=100)
    published_at: datetime | None = _ts(default=None, nullable=True)
