"""orders keep their exported cells sealed when a data key is set

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 18:00:00

With `SCRM_DATA_KEY` set, an import seals each order's exported cells (phones, names, addresses as
exported) into one blob in `orders.cells` and leaves `orders.raw` empty; without a key it keeps writing
`raw` as before. Orders imported earlier keep their `raw` until an import of the order replaces it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cells", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("cells")
