"""import runs keep their file's headers

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:40:00

Orders now keep their exported cells by position, and the run that wrote them keeps the header names
once (`import_runs.headers`), instead of every order repeating every header. Orders imported before
keep their {header: cell} documents, which `storage.formats.cells_by_header` still reads.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    document = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("headers", document, nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.drop_column("headers")
