"""The order importer: stream a file, normalise in Python, write in batches, then enrich profiles.

    reports = await import_files(db, settings, [Path("ExportOrderList.csv")], clock=SystemClock())

Reading and normalising run one batch ahead of the database writes, in a worker process for big files
and a thread for small ones (`orders.feed`), so they use the second core and a web upload imported in a
background task does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from base.clock import Clock
from base.settings import Settings
from base.vault import PhoneVault
from orders.aggregates import refresh_profiles
from orders.dryrun import DryRunMemory
from orders.erased import REASON as ERASED
from orders.erased import ErasedNumbers
from orders.feed import PROCESS_BYTES, BatchFeed, ReadPlan
from orders.idset import IdSet
from orders.opening import open_export
from orders.presets import Preset
from orders.records import OrderReader, RejectedRow
from orders.report import FileReport
from orders.retry import retrying
from orders.transactions import COMMIT_SECONDS, Committed, TransactionGroup
from orders.wire import WireBatch
from orders.writer import BatchOutcome, BatchWriter
from storage.db import Database
from storage.orders import checkpoint_passive, finish_run, sqlite_import_cache, start_run

# rows done, bytes read, bytes in the file
ProgressCallback = Callable[[int, int, int], None]
# file report, the file's header names, rejected rows of one batch
RejectsCallback = Callable[[FileReport, list[str], list[RejectedRow]], None]
# Orders per batch: large batches amortise round trips; memory stays small.
BATCH_SIZE = 5_000
# On SQLite a waiting writer (a callback's group commit, a job) gets its turn only between two batches
# (orders.transactions commits as soon as one waits), so a batch is as long as it may wait: writing 5,000
# orders kept callbacks waiting up to a second and more under a 1M-row import.
SQLITE_BATCH_SIZE = 1_000
# Profile chunks re-scored at once on PostgreSQL after the orders are in (one per core of the machine it
# was tuned on).
REFRESH_WORKERS = 2
# The page cache of the import's SQLite connection (see import_connection), and SQLite's default.
SQLITE_IMPORT_CACHE_KIB, SQLITE_DEFAULT_CACHE_KIB = 65_536, 2_000


@dataclass(frozen=True)
class ImportOptions:
    """How to read the files: `platform` is a preset name, `auto`, or `generic` with a `mapping`."""

    platform: str = "auto"
    mapping: Preset | None = None
    dry_run: bool = False
    actor: str = ""
    batch_size: int | None = None  # orders per batch; None: SQLITE_BATCH_SIZE on SQLite, else BATCH_SIZE
    # A transaction takes more batches until it has been open this long (see orders.transactions).
    commit_seconds: float = COMMIT_SECONDS
    # Files at least this big are read in a worker process (see orders.feed).
    process_bytes: int = PROCESS_BYTES


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes, recorded on the run so the same file is recognisable later."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def import_files(
    db: Database,
    settings: Settings,
    paths: Sequence[Path],
    *,
    clock: Clock,
    options: ImportOptions | None = None,
    progress: ProgressCallback | None = None,
    on_rejects: RejectsCallback | None = None,
) -> list[FileReport]:
    """Import every file in turn. All files are opened and checked first: one bad file writes nothing."""
    chosen = options or ImportOptions()
    for path in paths:
        table, _preset = await asyncio.to_thread(open_export, path, chosen.platform, chosen.mapping)
        table.close()
    return [
        await import_file(db, settings, path, clock=clock, options=chosen, progress=progress, on_rejects=on_rejects)
        for path in paths
    ]


async def import_file(
    db: Database,
    settings: Settings,
    path: Path,
    *,
    clock: Clock,
    options: ImportOptions | None = None,
    progress: ProgressCallback | None = None,
    on_rejects: RejectsCallback | None = None,
) -> FileReport:
    """Import one export file and return its report. Bad input raises ImportInputError, writing nothing."""
    chosen = options or ImportOptions()
    table, preset = await asyncio.to_thread(open_export, path, chosen.platform, chosen.mapping)
    with ExitStack() as cleanup:
        cleanup.callback(table.close)
        report = FileReport(path.name, preset.platform, preset.name, await asyncio.to_thread(file_hash, path))
        report.dry_run = chosen.dry_run
        reader = OrderReader(table, preset)
        if not chosen.dry_run:
            async with db.engine.begin() as conn:
                report.run_id = await start_run(
                    conn,
                    {
                        "file_name": path.name[:255],
                        "content_hash": report.content_hash,
                        "platform": preset.platform,
                        "preset": preset.name[:80],
                        "actor": chosen.actor[:100],
                        "state": "running",
                        "started_at": clock.now(),
                        "rejects_by_reason": {},
                        "hints_by_kind": {},
                        "headers": list(table.headers),
                    },
                )
        memory = DryRunMemory() if chosen.dry_run else None
        cleanup.callback(lambda: memory.close() if memory is not None else None)
        writer = BatchWriter(
            dialect=db.dialect,
            vault=PhoneVault(settings.data_key),
            platform=preset.platform,
            provided=reader.provided,
            run_id=report.run_id,
            memory=memory,
        )
        erased = await ErasedNumbers.load(db, settings.data_key)
        plan = ReadPlan(
            path=path,
            platform=chosen.platform,
            mapping=chosen.mapping,
            batch_size=chosen.batch_size or (BATCH_SIZE if db.is_postgres else SQLITE_BATCH_SIZE),
            dialect=db.dialect,
            data_key=settings.data_key,
            erased=erased.hashes,
            process_bytes=chosen.process_bytes,
        )
        feed = BatchFeed(plan)
        async with import_connection(db) as conn:
            try:
                await feed.start()
                touched = await _write_batches(conn, feed, reader, writer, report, clock, chosen, progress, on_rejects)
            finally:
                await feed.close()
            if not chosen.dry_run and report.run_id is not None:
                # SQLite has one writer at a time, and each chunk holds the write lock from its reads on.
                workers = REFRESH_WORKERS if db.is_postgres else 1
                await refresh_profiles(db, touched, clock.now(), conn=conn, workers=workers)
        if not chosen.dry_run and report.run_id is not None:
            async with db.engine.begin() as conn:
                await finish_run(
                    conn, report.run_id, {**report.counts(), "state": "completed", "finished_at": clock.now()}
                )
        return report


async def _write_batches(
    conn: AsyncConnection,
    feed: BatchFeed,
    reader: OrderReader,
    writer: BatchWriter,
    report: FileReport,
    clock: Clock,
    options: ImportOptions,
    progress: ProgressCallback | None,
    on_rejects: RejectsCallback | None,
) -> IdSet:
    """Write every batch; returns the ids of all profiles the file's orders belong to."""
    updated_ids = IdSet()  # existing profiles the file changed (created ones are not "updated")
    touched = IdSet()

    def count(done: list[Committed]) -> None:
        for batch, outcome in ((item.batch, item.outcome) for item in done):
            report.rows_read = batch.rows_read
            report.orders_created += outcome.created
            report.orders_updated += outcome.updated
            report.orders_unchanged += outcome.unchanged
            report.hints_by_kind.update(batch.hints)
            if batch.erased:
                report.rejects_by_reason[ERASED] += batch.erased
            report.add_rejects(batch.rejects)
            if on_rejects is not None and batch.rejects:
                on_rejects(report, reader.table.headers, batch.rejects)
            # Profiles the batch created are left out as a set first: in a big file most are new.
            existed = outcome.changed_profile_ids - outcome.new_profile_ids
            updated_ids.update(pid for pid in existed if pid not in writer.created_here)
            touched.update(outcome.profile_ids)
            report.profiles_created += len(outcome.new_profile_ids) + len(outcome.new_profile_keys)
            report.profiles_updated = len(updated_ids)
            if progress is not None:
                progress(batch.rows_read, batch.position, reader.table.size)

    group = TransactionGroup(conn, writer, clock, seconds=options.commit_seconds)
    while (batch := await feed.next()) is not None:
        if options.dry_run:
            count([Committed(batch, await _try_out(conn, writer, batch, clock))])
        else:
            count(await group.write(batch))
    count(await group.finish())
    return touched


@asynccontextmanager
async def import_connection(db: Database) -> AsyncIterator[AsyncConnection]:
    """The one connection an import writes with, each batch in a transaction of its own.

    On SQLite it gets, for the import only, a page cache that holds most of the orders' and events'
    indexes (their inserts land all over them). The log it writes is copied into the database beside the
    writers (storage.checkpoints); at the end the import checkpoints what is left itself, so no gateway
    request pays for that.
    """
    async with db.engine.connect() as conn:
        sqlite = db.dialect == "sqlite"
        if sqlite:
            await sqlite_import_cache(conn, SQLITE_IMPORT_CACHE_KIB)
        try:
            yield conn
        finally:
            if sqlite:
                if conn.in_transaction():
                    await conn.rollback()
                # PASSIVE: copies what it can without waiting for readers (the gateway's) to finish.
                await checkpoint_passive(conn)
                # The connection goes back to the pool: with the default cache, as the gateway expects it.
                await sqlite_import_cache(conn, SQLITE_DEFAULT_CACHE_KIB)


async def _try_out(conn: AsyncConnection, writer: BatchWriter, batch: WireBatch, clock: Clock) -> BatchOutcome:
    """A dry run's batch: written to see what it would do, then rolled back."""

    async def attempt() -> BatchOutcome:
        try:
            return await writer.write(conn, batch, clock.now())
        finally:
            await conn.rollback()

    return await retrying(attempt)
