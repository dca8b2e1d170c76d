"""import runs keep their file's headers; profiles lacking details get a partial index

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:40:00

Orders now keep their exported cells by position, and the run that wrote them keeps the header names
once (`import_runs.headers`), instead of every order repeating every header. Orders imported before
keep their {header: cell} documents, which `storage.formats.cells_by_header` still reads.

`ix_profiles_lacking_details` indexes only profiles without a name or city, the few an import may
still fill in, so an import reads profile ids from the lookup key's index alone.
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
    lacking = sa.text("name IS NULL OR city IS NULL")
    op.create_index(
        "ix_profiles_lacking_details", "profiles", ["phone_key"], sqlite_where=lacking, postgresql_where=lacking
    )


def downgrade() -> None:
    op.drop_index("ix_profiles_lacking_details", table_name="profiles")
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.drop_column("headers")
