"""Feeding an import: the file read into wire batches, in a worker process for big files.

Reading and normalising is pure Python CPU work, and so is most of what the writer does around the
database; in one process they would share one core. A file over `ReadPlan.process_bytes` is therefore
read by a worker process (`python -m orders.feed`) that runs ahead of the writer, handing over pickled
wire batches on its stdout. The importer takes in up to `FRAMES_AHEAD` batches ahead of its writer and
then stops reading; the pipe's small buffer makes the worker wait there, so memory stays flat whatever
the file size. If the importing process dies, the worker's next write fails on the closed pipe and it
exits.

Smaller files (most console uploads) are read on a thread: starting a process costs more than it saves.
"""

from __future__ import annotations

import asyncio
import pickle  # noqa: S403 - frames between this process and its own worker only
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from base.vault import PhoneVault, erasure_hash
from orders.errors import ImportInputError
from orders.opening import open_export
from orders.presets import Preset
from orders.records import OrderReader
from orders.wire import WireBatch, WireEncoder

# Files at least this big are read in a worker process (about 20,000 rows of a Tmall export).
PROCESS_BYTES = 4 << 20
# Batches the importer takes in ahead of its writer (each a few MiB; the worker builds one more).
FRAMES_AHEAD = 3


@dataclass(frozen=True)
class ReadPlan:
    """Everything the reader needs, picklable so a worker process can be handed it whole."""

    path: Path
    platform: str
    mapping: Preset | None
    batch_size: int
    dialect: str
    data_key: bytes
    erased: frozenset[str]
    process_bytes: int = PROCESS_BYTES


def wire_batches(plan: ReadPlan) -> Iterator[WireBatch]:
    """The file's wire batches, in file order (the file is opened and closed here)."""
    table, preset = open_export(plan.path, plan.platform, plan.mapping)
    try:
        erased, key = plan.erased, plan.data_key
        is_erased = (lambda e164: erasure_hash(e164, key) in erased) if erased else None
        vault = PhoneVault(key)
        reader = OrderReader(table, preset, vault)
        encoder = WireEncoder(
            preset.platform,
            plan.dialect,
            vault,
            is_erased,
            phone_headers=reader.headers_of("phone"),
            personal_headers=reader.headers_of("receiver_name", "address"),
        )
        for batch in reader.batches(plan.batch_size):
            yield encoder.batch(batch)
    finally:
        table.close()


def _send(out: IO[bytes], kind: str, value: object) -> None:
    frame = pickle.dumps((kind, value), protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(frame).to_bytes(8, "big"))
    out.write(frame)
    out.flush()


def work(source: IO[bytes], out: IO[bytes]) -> None:
    """The worker process: read a pickled ReadPlan, then send ("batch", b)... ("end", None) frames,
    or ("input_error" | "error", message) when the file cannot be read."""
    plan: ReadPlan = pickle.load(source)  # noqa: S301 - our own parent wrote it
    try:
        for batch in wire_batches(plan):
            _send(out, "batch", batch)
        _send(out, "end", None)
    except BrokenPipeError:
        return  # the importer is gone; nobody is left to read
    except ImportInputError as error:
        _send(out, "input_error", str(error))
    except Exception as error:  # noqa: BLE001 - reported to the importer, which raises it
        _send(out, "error", f"{type(error).__name__}: {error}")


class BatchFeed:
    """Async source of one file's wire batches: `await feed.start()`, `await feed.next()` until it
    returns None, then `await feed.close()`."""

    def __init__(self, plan: ReadPlan) -> None:
        self._plan = plan
        self._process: asyncio.subprocess.Process | None = None
        # Frames received ahead of the writer (None: the worker's output ended early), by `_pump`.
        self._frames: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=FRAMES_AHEAD)
        self._pump: asyncio.Task[None] | None = None
        self._batches: Iterator[WireBatch] | None = None
        self._pending: asyncio.Future[WireBatch | None] | None = None

    async def start(self) -> None:
        """Start reading: a worker process for a big file, a thread otherwise."""
        if self._plan.path.stat().st_size < self._plan.process_bytes:
            self._batches = wire_batches(self._plan)
            return
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "orders.feed", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )  # fmt: skip
        assert self._process.stdin is not None
        self._process.stdin.write(pickle.dumps(self._plan, protocol=pickle.HIGHEST_PROTOCOL))
        await self._process.stdin.drain()
        self._process.stdin.close()
        self._pump = asyncio.create_task(self._receive(self._process.stdout), name="import reader frames")

    async def _receive(self, stdout: asyncio.StreamReader | None) -> None:
        """Read the worker's frames as they come, a few batches ahead, so a moment when the worker is
        slow (both cores busy) does not stall the writer and the next moment it catches up."""
        assert stdout is not None
        while True:
            try:
                size = int.from_bytes(await stdout.readexactly(8), "big")
                frame = await stdout.readexactly(size)
            except asyncio.IncompleteReadError:
                await self._frames.put(None)
                return
            await self._frames.put(frame)

    @property
    def in_process(self) -> bool:
        """True when a worker process reads the file."""
        return self._process is not None

    async def next(self) -> WireBatch | None:
        """The next batch, None at the end of the file."""
        if self._batches is not None:
            # The thread reads the batch after this one while the caller writes this one.
            batch = await (self._pending or self._read_ahead(self._batches))
            self._pending = None if batch is None else self._read_ahead(self._batches)
            return batch
        frame = await self._frames.get()
        if frame is None:
            raise RuntimeError(f"the reader of {self._plan.path.name} stopped without a word")
        # Unpickling a batch takes milliseconds: off the event loop, so the console stays responsive.
        kind, value = await asyncio.to_thread(pickle.loads, frame)
        if kind == "batch":
            return value  # type: ignore[no-any-return]
        if kind == "end":
            return None
        if kind == "input_error":
            raise ImportInputError(value)
        raise RuntimeError(f"reading {self._plan.path.name} failed: {value}")

    @staticmethod
    def _read_ahead(batches: Iterator[WireBatch]) -> asyncio.Future[WireBatch | None]:
        return asyncio.ensure_future(asyncio.to_thread(next, batches, None))

    async def close(self) -> None:
        """Stop reading: wait for a thread's batch in progress, or end the worker process."""
        if self._pending is not None and not self._pending.done():
            await asyncio.wait([self._pending])
        if self._batches is not None:
            close = getattr(self._batches, "close", None)
            if close is not None:
                await asyncio.to_thread(close)
            self._batches = None
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
            self._pump = None
        if self._process is not None:
            if self._process.returncode is None:
                self._process.kill()
            await self._process.wait()
            self._process = None


if __name__ == "__main__":
    work(sys.stdin.buffer, sys.stdout.buffer)
