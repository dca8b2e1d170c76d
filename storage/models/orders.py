"""Tables of the order import: orders keyed by (platform, order number), import runs, rejected rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import JSONDoc, UTCDateTime, partial_index


class Order(SQLModel, table=True):
    """One marketplace order; a later export of the same order updates it in place."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("platform", "order_no", name="uq_orders_platform_order_no"),
        Index("ix_orders_profile_ordered", "profile_id", "ordered_at"),
        # Partial: only orders with a weak phone hint (a few percent) are ever looked up by it.
        partial_index("ix_orders_hint_last4", "hint_last4"),
    )
    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=24)
    order_no: str = Field(max_length=64)
    # Canonical: pending, paid, shipped, completed, closed, refunded; the export's wording beside it.
    status: str = Field(max_length=16)
    status_text: str = Field(default="", max_length=60)
    total_fen: int | None = Field(default=None, sa_type=BigInteger)
    paid_fen: int | None = Field(default=None, sa_type=BigInteger)
    refund_fen: int = Field(default=0, sa_type=BigInteger)
    item_count: int = 0
    products: list[str] = Field(default_factory=list, sa_column=Column(JSONDoc, nullable=False))
    first_product: str | None = Field(default=None, max_length=200)
    ordered_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    profile_id: int | None = Field(default=None, foreign_key="profiles.id")
    # A phone that cannot key a profile, kept for a person to match: the text and why (see base.phones).
    phone_hint: str | None = Field(default=None, max_length=40)
    hint_kind: str | None = Field(default=None, max_length=16)
    hint_last4: str | None = Field(default=None, max_length=4)
    receiver_name: str | None = Field(default=None, max_length=100)
    receiver_city: str | None = Field(default=None, max_length=60)
    # The exported cells of the latest file that touched the order, one list per line, by position (the
    # headers are on the import run: see storage.formats.cells_by_header). Erased with the person's data.
    raw: list[list[str]] | dict[str, Any] = Field(default_factory=list, sa_column=Column(JSONDoc, nullable=False))
    # With SCRM_DATA_KEY set, the same cells instead (`raw` is then []), packed (storage.formats.pack_cells;
    # JSON text before) and sealed as one blob (base.vault.PhoneVault.seal_bytes), one per order rather than
    # per cell, bytes rather than base64.
    cells: bytes | None = Field(default=None, sa_type=LargeBinary, nullable=True)
    # Not indexed: nothing looks orders up by run, and every import pays for each index on this table.
    import_run_id: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ImportRun(SQLModel, table=True):
    """One file imported: what, by whom, when, and the counts the report showed."""

    __tablename__ = "import_runs"
    id: int | None = Field(default=None, primary_key=True)
    file_name: str = Field(max_length=255)
    content_hash: str = Field(max_length=64, index=True)
    platform: str = Field(max_length=24)
    preset: str = Field(default="", max_length=80)
    # The file's header names, once: its orders keep their exported cells by position (`Order.raw`).
    headers: list[str] = Field(default_factory=list, sa_column=Column(JSONDoc, nullable=False, server_default="[]"))
    actor: str = Field(default="", max_length=100)
    # running -> completed; a run killed mid-way stays "running" (re-running the file converges).
    state: str = Field(default="running", max_length=16)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    rows_read: int = 0
    orders_created: int = 0
    orders_updated: int = 0
    orders_unchanged: int = 0
    profiles_created: int = 0
    profiles_updated: int = 0
    rejected: int = 0
    rejects_by_reason: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
    hints_by_kind: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))


class ImportReject(SQLModel, table=True):
    """A row an import could not use, kept so the console can offer the rejects for download."""

    __tablename__ = "import_rejects"
    id: int | None = Field(default=None, primary_key=True)
    import_run_id: int = Field(foreign_key="import_runs.id", index=True)
    line_no: int
    reason: str = Field(max_length=40)
    detail: str = Field(default="", max_length=300)
    cells: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSONDoc, nullable=False))
