"""the pushes by status in the order a claim takes them

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 07:00:00

A claim takes the due pending pushes oldest first (`ORDER BY due_at, id`). The status index held only
(status, due_at), so PostgreSQL could not stop after the claim's 500: with 100,000 due pushes it read
them all, checked each one's run and sorted them on disk, 78 of the claim's 87 ms, growing with the
outbox. With the id in the index the claim walks it in order and stops (9 ms). SQLite's indexes end with
the row id already; the new index changes nothing for it.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_pushes_claim_order", "pushes", ["status", "due_at", "id"])
    op.drop_index("ix_pushes_status_due", table_name="pushes")


def downgrade() -> None:
    op.create_index("ix_pushes_status_due", "pushes", ["status", "due_at"])
    op.drop_index("ix_pushes_claim_order", table_name="pushes")
