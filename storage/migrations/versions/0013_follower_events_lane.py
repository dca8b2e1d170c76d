"""the waiting domain events about a follower, indexed on their own

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 08:30:00

Enrolment claims waiting events about a follower (followed, bound, clicked) before events about a
profile alone, which an import writes by the hundred thousand: a follower who acts while that backlog
drains gets the journey's message at once. This index keeps that first claim a short read of the
follower lane however long the import's backlog is.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    lane = sa.text("processed_at IS NULL AND follower_id IS NOT NULL")
    op.create_index(
        "ix_domain_events_waiting_followers", "domain_events", ["id"], sqlite_where=lane, postgresql_where=lane
    )


def downgrade() -> None:
    op.drop_index("ix_domain_events_waiting_followers", table_name="domain_events")
