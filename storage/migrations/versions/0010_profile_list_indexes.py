"""the console's profile list: sort indexes and saved segments

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 07:00:00

The list sorts by last order, spend or order count and stops after a page: each sort walks its index.
A filter can be saved under a name and used as a mass send's target.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

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
    op.create_table(
        "saved_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("filter", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("saved_segments")
    op.drop_index("ix_profiles_orders", table_name="profiles")
    op.drop_index("ix_profiles_spend", table_name="profiles")
    op.drop_index("ix_profiles_last_order", table_name="profiles")
