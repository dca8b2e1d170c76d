"""Consent to marketing, per follower and purpose; the newest row is the one in force."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class Consent(SQLModel, table=True):
    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_follower_purpose", "follower_id", "purpose", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    follower_id: int = Field(foreign_key="followers.id")
    profile_id: int | None = Field(default=None, index=True)
    purpose: str = Field(default="marketing", max_length=32)
    granted: bool
    # The exact words the follower was shown (or typed, for an opt-out), for the record.
    text_shown: str = Field(default="", max_length=1000)
    source: str = Field(default="", max_length=40)  # binding, keyword, admin, unsubscribe...
    at: datetime = Field(sa_type=UTCDateTime)
