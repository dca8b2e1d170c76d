"""template-message receipts and mass-send results

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 06:00:00

The msgid of each template message WeChat accepted, so that its TEMPLATESENDJOBFINISH can be matched to
the push and the follower; and the counts of each MASSSENDJOBFINISH.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "template_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("msg_id", sa.String(length=64), nullable=False),
        sa.Column("push_id", sa.Integer(), nullable=False),
        sa.Column("follower_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("appid", "msg_id", name="uq_template_receipts"),
    )
    op.create_index("ix_template_receipts_push_id", "template_receipts", ["push_id"])
    op.create_index("ix_template_receipts_follower_id", "template_receipts", ["follower_id"])
    op.create_table(
        "mass_send_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("msg_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=80), nullable=False),
        sa.Column("total_count", sa.Integer(), nullable=False),
        sa.Column("filter_count", sa.Integer(), nullable=False),
        sa.Column("sent_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("appid", "msg_id", name="uq_mass_send_results"),
    )


def downgrade() -> None:
    op.drop_table("mass_send_results")
    op.drop_index("ix_template_receipts_follower_id", table_name="template_receipts")
    op.drop_index("ix_template_receipts_push_id", table_name="template_receipts")
    op.drop_table("template_receipts")
