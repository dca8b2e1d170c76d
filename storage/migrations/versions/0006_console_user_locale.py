"""the console user's language

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 12:00:00

The console speaks Simplified Chinese unless its user chose English: each user keeps the choice. The
server default gives every existing user (and any row written by an older process) Simplified Chinese.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot drop a column in place on downgrade; on PostgreSQL it is a plain ALTER.
    with op.batch_alter_table("console_users") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=16), server_default="zh_CN", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("locale")
