"""lean indexes on the tables every import writes

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:10:00

An import writes one order and one to two domain events per row, and pays for every index on those
tables on every row. Dropped: `orders.import_run_id` and `domain_events.kind`, which no query reads by.
Made partial: `orders.hint_last4` (only orders with a weak phone hint) and `domain_events.follower_id`
(import events belong to profiles, not followers).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _partial(column: str) -> dict[str, sa.TextClause]:
    condition = sa.text(f"{column} IS NOT NULL")
    return {"sqlite_where": condition, "postgresql_where": condition}


def upgrade() -> None:
    op.drop_index("ix_orders_import_run_id", table_name="orders")
    op.drop_index("ix_orders_hint_last4", table_name="orders")
    op.create_index("ix_orders_hint_last4", "orders", ["hint_last4"], **_partial("hint_last4"))
    op.drop_index("ix_domain_events_kind", table_name="domain_events")
    op.drop_index("ix_domain_events_follower_id", table_name="domain_events")
    op.create_index("ix_domain_events_follower_id", "domain_events", ["follower_id"], **_partial("follower_id"))


def downgrade() -> None:
    op.drop_index("ix_domain_events_follower_id", table_name="domain_events")
    op.create_index("ix_domain_events_follower_id", "domain_events", ["follower_id"])
    op.create_index("ix_domain_events_kind", "domain_events", ["kind"])
    op.drop_index("ix_orders_hint_last4", table_name="orders")
    op.create_index("ix_orders_hint_last4", "orders", ["hint_last4"])
    op.create_index("ix_orders_import_run_id", "orders", ["import_run_id"])
