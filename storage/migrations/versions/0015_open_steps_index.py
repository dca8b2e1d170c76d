"""an index of the open pushes by journey run

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 21:05:00

A push is claimed only when no earlier step of its journey run is still open. On a pushes table that
PostgreSQL had not analyzed yet (a new install whose first journey enrolled a segment), the planner
checked that for each candidate by reading every open push through the status index: 20,000 due pushes
made a claim read 400 million index entries, and 100,000 stopped the dispatcher. An index of the open
pushes by run and id answers each candidate with one short lookup.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The states as storage.models.pushes.OPEN_STATES had them at this revision.
    open_states = sa.text("status IN ('pending', 'held', 'claimed', 'sending')")
    op.create_index(
        "ix_pushes_open_run", "pushes", ["run_id", "id"], sqlite_where=open_states, postgresql_where=open_states
    )


def downgrade() -> None:
    op.drop_index("ix_pushes_open_run", table_name="pushes")
