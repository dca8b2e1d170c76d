"""Tables of the web console: its users, their server-side sessions, and every login attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


class ConsoleUser(SQLModel, table=True):
    """A person who signs in to the console: an admin or a content editor."""

    __tablename__ = "console_users"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True, index=True)
    role: str = Field(max_length=16)  # "admin" | "editor"
    # "scrypt$n$r$p$salt$hash", see console.passwords; never the password itself.
    password_hash: str = Field(max_length=300)
    disabled: bool = Field(default=False)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_login_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    # The language the person reads the console in: "zh_CN" (the default) or "en" (base.i18n.LOCALES).
    locale: str = Field(default="zh_CN", max_length=16, sa_column_kwargs={"server_default": "zh_CN"})


class WebSession(SQLModel, table=True):
    """A signed-in browser. Only the SHA-256 of the cookie token is kept, so a copied table opens nothing."""

    __tablename__ = "console_sessions"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int = Field(foreign_key="console_users.id", index=True)
    # The per-session anti-forgery token every form and JSON POST must carry back.
    csrf_token: str = Field(max_length=64)
    ip: str = Field(default="", max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)


class LoginAttempt(SQLModel, table=True):
    """One try at the login form, kept to lock out password guessing per user name and per address."""

    __tablename__ = "console_login_attempts"
    __table_args__ = (
        Index("ix_console_login_attempts_name_at", "username", "at"),
        Index("ix_console_login_attempts_ip_at", "ip", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime)
    username: str = Field(max_length=60)
    ip: str = Field(max_length=64)
    succeeded: bool
