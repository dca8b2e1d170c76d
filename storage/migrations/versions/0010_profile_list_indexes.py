"""indexes for the console's profile list

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 07:00:00

The list sorts by last order, spend or order count and stops after a page: each sort walks its index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_profiles_last_order",
        "profiles",
        ["last_order_at", "id"],
        postgresql_ops={"last_order_at": "DESC NULLS LAST", "id": "DESC"},
    )
    op.create_index("ix_profiles_spend", "profiles", ["total_spent_fen", "id"])
    op.create_index("ix_profiles_orders", "profiles", ["order_count", "id"])


def downgrade() -> None:
    op.drop_index("ix_profiles_orders", table_name="profiles")
    op.drop_index("ix_profiles_spend", table_name="profiles")
    op.drop_index("ix_profiles_last_order", table_name="profiles")
