"""journeys edited in the console: their versions, and where the live definition came from

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 08:40:00

Each journey's existing definition becomes its published version, from YAML.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("journeys") as batch:
        batch.add_column(sa.Column("source", sa.String(length=16), nullable=False, server_default="yaml"))
        batch.add_column(sa.Column("yaml_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "journey_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("journey_id", sa.Integer(), sa.ForeignKey("journeys.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("journey_id", "version", name="uq_journey_versions_number"),
    )
    op.create_index("ix_journey_versions_journey_id", "journey_versions", ["journey_id"])
    op.execute(
        "INSERT INTO journey_versions (journey_id, version, definition, content_hash, state, source, created_at,"
        " created_by, published_at) SELECT id, version, definition, content_hash, 'published', 'yaml',"
        " updated_at, updated_by, updated_at FROM journeys"
    )


def downgrade() -> None:
    op.drop_index("ix_journey_versions_journey_id", table_name="journey_versions")
    op.drop_table("journey_versions")
    with op.batch_alter_table("journeys") as batch:
        batch.drop_column("yaml_hash")
        batch.drop_column("source")
