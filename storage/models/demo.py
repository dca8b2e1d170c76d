"""The demo clock's shared state (`scrm demo` only): how far a person moved demo time ahead."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class DemoClockRow(SQLModel, table=True):
    """One row (id 1): demo time runs `offset_seconds` ahead of real time (after the command line's
    speed-up) from the real moment `effective_at`, `previous_seconds` before it (base.clock.DemoOffset)."""

    __tablename__ = "demo_clock"
    id: int = Field(default=1, primary_key=True)
    offset_seconds: float = 0.0
    previous_seconds: float = 0.0
    effective_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
