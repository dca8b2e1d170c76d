"""Callback throughput and latency of the product as served, beside its peers, in one run on one machine.

    .venv/bin/python bench/callbacks.py                                  # scrm (SQLite), bare, echo, werobot
    .venv/bin/python bench/callbacks.py --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/callbacks.py --with-dispatch                  # while the dispatcher drains an outbox
    .venv/bin/python bench/callbacks.py --targets scrm --clicks          # tracked-link clicks beside callbacks
    .venv/bin/python bench/callbacks.py --duration 5 --rounds 1 --targets scrm,werobot
    .venv/bin/python bench/callbacks.py --targets gateway,werobot-session   # more rows (see bench/targets.py)

The product is `scrm serve --workers N` started as a user starts it (bench/product.py); beside it, one
at a time: aiohttp answering `success` (the ceiling), wechatpy + aiohttp stateless echo and WeRoBot
under gunicorn with 2 sync workers (installed on first use into bench/out/.peers-venv, never into the
project). Load comes from wrk (`apt-get install wrk`) running bench/walk_requests.lua over requests
written just before each cell: every one a distinct, freshly signed text message from one of 500
followers, plaintext or safe mode. A cell reports req/s, p50/p99, non-2xx answers, socket errors,
late replies (`success` where a reply was due) and the server's CPU per request; then the table over
rounds and the ratios product / WeRoBot, product / echo, product / ceiling. Everything listens on
127.0.0.1 and every server, the fake WeChat API included, is stopped at the end, by process group.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.clicks import click_material  # noqa: E402
from bench.processes import ServerGroup, free_port, load_average  # noqa: E402
from bench.product import run_directory  # noqa: E402
from bench.report import Measured, cell_line, ratios, summary  # noqa: E402
from bench.signed_requests import CLICK_MODE, MODES, RequestFactory, SafeModeSealer  # noqa: E402
from bench.targets import TARGETS, BenchConfig, Target  # noqa: E402
from bench.wrk_driver import CellResult, find_wrk, run_cell  # noqa: E402

# scrm-pg only with --pg-url.
DEFAULT = ("scrm", "scrm-pg", "bare", "echo", "werobot")


def _csv(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", help=f"comma-separated, of {','.join(TARGETS)} (default: {','.join(DEFAULT)})")
    parser.add_argument("--workers", type=int, default=2, help="scrm serve --workers (default 2)")
    parser.add_argument(
        "--pg-url", default="", help="PostgreSQL server for scrm-pg; a fresh database is made per start"
    )
    parser.add_argument("--connections", default="64,8", help="wrk connections per cell (default 64,8)")
    parser.add_argument("--modes", default=",".join(MODES), help="plaintext,safe (default both)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per cell (default 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds after each start (default 3)")
    parser.add_argument("--rounds", type=int, default=2, help="every target, every cell, this many times (default 2)")
    parser.add_argument("--with-dispatch", action="store_true", help="scrm targets start with an outbox to drain")
    parser.add_argument("--dispatch-backlog", type=int, default=100_000, help="due pushes with --with-dispatch")
    parser.add_argument(
        "--clicks", action="store_true", help="product targets also answer tracked-link clicks (bench/clicks.py)"
    )
    parser.add_argument("--max-requests", type=int, default=500_000, help="cap on one cell's request file")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, SQLite files)")
    args = parser.parse_args(argv)
    default = [name for name in DEFAULT if name != "scrm-pg" or args.pg_url]
    args.targets = _csv(args.targets) if args.targets else default
    unknown = [name for name in args.targets if name not in TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; choose from {', '.join(TARGETS)}")
    args.connections = [int(part) for part in _csv(args.connections)]
    args.modes = _csv(args.modes)
    if not set(args.modes) <= set(MODES):
        parser.error(f"--modes must be among {', '.join(MODES)}")
    if args.duration <= 0 or args.duration > 600 or args.rounds < 1 or args.rounds > 20:
        parser.error("--duration must be in (0, 600] seconds and --rounds in 1..20")
    return args


class Bench:
    """One run: the fake WeChat API up for its whole length, then each target started, loaded and stopped."""

    def __init__(self, args: argparse.Namespace, workdir: Path, api_base: str) -> None:
        self.args = args
        self.config = BenchConfig(
            workdir, args.workers, args.pg_url, api_base, args.dispatch_backlog if args.with_dispatch else 0
        )
        self.factory = RequestFactory("127.0.0.1", SafeModeSealer())
        self.best_rate: dict[str, float] = {}
        self.measured: list[Measured] = []

    def request_count(self, target: Target, seconds: float, connections: int) -> int:
        """Enough distinct requests for `seconds` at 1.5x the best rate seen (a guess before the first cell)."""
        rate = self.best_rate.get(target.name, target.guess_rps)
        cap: int = self.args.max_requests
        return max(2000, min(cap, int(rate * seconds * 1.5) + 4 * connections))

    def run_target(self, target: Target, round_number: int) -> None:
        port = free_port()
        self.factory.host = f"127.0.0.1:{port}"
        group = ServerGroup(target.name, self.config.workdir / f"{target.name}-{round_number}.log")
        workdir = self.config.workdir
        with target.run(self.config, group, port) as notes:
            if self.args.warmup > 0:
                count = self.request_count(target, self.args.warmup, 8)
                run_cell(self.factory, port=port, mode="plaintext", connections=8, duration=self.args.warmup,
                         count=count, workdir=workdir, threads=self.args.wrk_threads)  # fmt: skip
            modes = list(self.args.modes)
            if self.args.clicks and target.product:
                # After the callbacks, whose followers the clicks' tokens name.
                modes.append(CLICK_MODE)
            for mode in modes:
                if mode == CLICK_MODE:
                    self.factory.clicks = click_material(group.database_url)
                for connections in self.args.connections:
                    cell, cpu_seconds = self.run_full_cell(group, port, mode, connections, target)
                    measured = Measured(target.name, mode, connections, round_number, cell, cpu_seconds)
                    self.measured.append(measured)
                    self.best_rate[target.name] = max(self.best_rate.get(target.name, 0.0), cell.rps)
                    print(cell_line(measured), flush=True)
        for note in notes:
            print(f"        {target.name}: {note}", flush=True)

    def run_full_cell(
        self, group: ServerGroup, port: int, mode: str, connections: int, target: Target
    ) -> tuple[CellResult, float]:
        """One cell that ran its whole duration, and the servers' CPU seconds in it.

        wrk divides by the whole duration even when a thread's file ran out early, so a cell that used up
        its requests understates the rate: it is measured again with a file twice as big (up to the cap).
        """
        count = self.request_count(target, self.args.duration, connections)
        while True:
            cpu = group.cpu_seconds()
            cell = run_cell(self.factory, port=port, mode=mode, connections=connections,
                            duration=self.args.duration, count=count, workdir=self.config.workdir,
                            threads=self.args.wrk_threads)  # fmt: skip
            if not cell.handshakes or count >= self.args.max_requests:
                return cell, group.cpu_seconds() - cpu
            print(f"        {target.name} {mode} c={connections}: {count:,} requests used up within "
                  f"{self.args.duration:g} s, measured again with {min(count * 2, self.args.max_requests):,}",
                  flush=True)  # fmt: skip
            count = min(count * 2, self.args.max_requests)


def header(args: argparse.Namespace) -> str:
    wrk_version = subprocess.run([find_wrk(), "--version"], capture_output=True, text=True, check=False).stdout
    now = datetime.datetime.now(datetime.UTC).astimezone().isoformat(timespec="seconds")
    wrk_name = wrk_version.splitlines()[0].split(" Copyright")[0] if wrk_version else "wrk"
    return (
        f"{now}  {os.cpu_count()} cores  load average {load_average()}  {wrk_name}\n"
        f"scrm serve --workers {args.workers}; peers 2 processes each; {args.duration:g} s per cell after "
        f"{args.warmup:g} s warm-up; {args.rounds} round(s); wrk -t{args.wrk_threads} --timeout 10s"
        + (f"; outbox of {args.dispatch_backlog:,} due pushes draining" if args.with_dispatch else "")
        + ("; then GET /l/<token> clicks, each a new visitor with its own token" if args.clicks else "")
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(header(args), flush=True)
    with run_directory("callbacks-", keep=args.keep) as (workdir, api_base):
        bench = Bench(args, workdir, api_base)
        for round_number in range(1, args.rounds + 1):
            for name in args.targets:
                try:
                    bench.run_target(TARGETS[name], round_number)
                except RuntimeError as error:
                    print(f"round {round_number} {name}: FAILED: {error}", flush=True)
    if not bench.measured:
        return 1
    print(f"\nload average at end: {load_average()}\n\n{summary(bench.measured)}\n\n{ratios(bench.measured)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
