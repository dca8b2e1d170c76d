"""A separate process that imports one file and reports each committed batch on stdout (for kill tests).

python -m tests.orders.child_import DATABASE_URL PATH BATCH_SIZE
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from base.clock import FakeClock
from base.settings import Settings
from orders.importer import ImportOptions, import_files
from storage.db import Database

# The same fixed clock in every process, so a killed-and-rerun import can be compared with a clean one.
FIXED_NOW = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


async def main(url: str, path: Path, batch_size: int) -> None:
    """Import `path` into `url`, printing `batch <rows>` after every committed batch (each batch is
    committed on its own, so a kill can land between any two)."""
    db = Database(url)

    def progress(rows: int, _position: int, _size: int) -> None:
        sys.stdout.write(f"batch {rows}\n")
        sys.stdout.flush()

    try:
        await import_files(
            db, Settings(database_url=url), [path], clock=FakeClock(FIXED_NOW),
            options=ImportOptions(batch_size=batch_size, commit_seconds=0), progress=progress,
        )  # fmt: skip
    finally:
        await db.dispose()
    sys.stdout.write("done\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
