"""tracked links: clicks and the links' signing key

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 05:30:00

Clicks on `/l/<token>` links (storage.models.links.LinkClick), unique per delivery, link and visitor so
that previews and repeated clicks count once, and the key that signs the tokens when SCRM_DATA_KEY is not
set (one row, made on first use).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_kind", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("template_version_id", sa.Integer(), nullable=False),
        sa.Column("link_index", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=1000), nullable=False),
        sa.Column("follower_id", sa.Integer(), nullable=True),
        sa.Column("profile_id", sa.Integer(), nullable=True),
        sa.Column("journey_id", sa.Integer(), nullable=True),
        sa.Column("step_key", sa.String(length=64), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("forwarded", sa.Boolean(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_link_clicks_visitor",
        "link_clicks",
        ["delivery_kind", "delivery_id", "link_index", "visitor"],
        unique=True,
    )
    condition = sa.text("follower_id IS NOT NULL")
    op.create_index(
        "ix_link_clicks_follower_id",
        "link_clicks",
        ["follower_id"],
        sqlite_where=condition,
        postgresql_where=condition,
    )
    op.create_index("ix_link_clicks_journey_step", "link_clicks", ["journey_id", "step_key"])
    op.create_index("ix_link_clicks_profile_id", "link_clicks", ["profile_id"])
    op.create_table(
        "link_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hex", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("link_keys")
    op.drop_index("ix_link_clicks_profile_id", table_name="link_clicks")
    op.drop_index("ix_link_clicks_journey_step", table_name="link_clicks")
    op.drop_index("ix_link_clicks_follower_id", table_name="link_clicks")
    op.drop_index("uq_link_clicks_visitor", table_name="link_clicks")
    op.drop_table("link_clicks")
