"""What can be measured, how each is started and stopped. One target is served at a time, alone on the machine
with the load generator, so targets never share the CPU with each other.

    scrm             `scrm serve --workers N` on a fresh SQLite file (the product, as users start it)
    scrm-pg          the same on a fresh PostgreSQL database (needs --pg-url)
    bare             aiohttp answering `success`, 2 processes (the ceiling)
    echo             wechatpy + aiohttp stateless echo, 2 processes
    werobot          WeRoBot 1.13 under gunicorn, 2 sync workers, no session
    werobot-session  the same with WeRoBot's default SQLite session (a write per message)
    gateway          the gateway routes alone, N processes, SQLite (the previous benchmark's target)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import venv
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.processes import ServerGroup
from bench.product import ProductDatabase, add_dispatch_backlog, prepare, product_env, push_counts, start_serve

ROOT = Path(__file__).resolve().parents[1]
PEERS_VENV = ROOT / "bench" / "out" / ".peers-venv"
PEER_PACKAGES = ("werobot", "gunicorn", "cryptography")


@dataclass(frozen=True)
class BenchConfig:
    workdir: Path
    workers: int
    pg_url: str
    api_base: str
    dispatch_backlog: int  # 0: no outbox to drain


# A running target: `notes` gets lines to print once the server is stopped (e.g. pushes drained).
Runner = Callable[[BenchConfig, ServerGroup, int], AbstractContextManager[list[str]]]


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    run: Runner
    replies: bool = True  # answers a text message with an XML reply (the ceiling answers `success`)
    product: bool = False
    guess_rps: float = 5000.0  # sizes the first cell's request file; later cells use what was measured


def ensure_peers_venv() -> Path:
    """bench/out/.peers-venv with WeRoBot and gunicorn, kept out of the project's dependencies."""
    python = PEERS_VENV / "bin" / "python"
    if not (PEERS_VENV / "bin" / "gunicorn").exists():
        print(f"installing the peers into {PEERS_VENV}: pip install {' '.join(PEER_PACKAGES)}", flush=True)
        venv.create(PEERS_VENV, with_pip=True)
        log = PEERS_VENV / "install.log"
        with log.open("wb") as out:
            done = subprocess.run([str(python), "-m", "pip", "install", *PEER_PACKAGES], stdout=out, stderr=out)
        if done.returncode != 0:
            raise RuntimeError(f"pip install {' '.join(PEER_PACKAGES)} failed; see {log}")
    return PEERS_VENV / "bin" / "gunicorn"


@contextmanager
def _peer_processes(group: ServerGroup, port: int, module: str, processes: int = 2) -> Iterator[list[str]]:
    try:
        for _ in range(processes):
            group.spawn([sys.executable, "-m", module, "--port", str(port)], cwd=ROOT)
        group.wait_ready(port)
        yield []
    finally:
        group.stop()


def _bare(config: BenchConfig, group: ServerGroup, port: int) -> AbstractContextManager[list[str]]:
    return _peer_processes(group, port, "bench.peers.bare")


def _echo(config: BenchConfig, group: ServerGroup, port: int) -> AbstractContextManager[list[str]]:
    return _peer_processes(group, port, "bench.peers.echo")


@contextmanager
def _werobot(config: BenchConfig, group: ServerGroup, port: int, session: bool = False) -> Iterator[list[str]]:
    gunicorn = ensure_peers_venv()
    command = [str(gunicorn), "--workers", "2", "--worker-class", "sync", "--bind", f"127.0.0.1:{port}"]
    command += ["--pythonpath", str(ROOT), "bench.peers.werobot_app:app"]
    env = {"PATH": "/usr/bin:/bin", "BENCH_WEROBOT_SESSION": "1" if session else "0"}
    try:
        group.spawn(command, env=env, cwd=config.workdir)
        group.wait_ready(port)
        yield []
    finally:
        group.stop()


def _werobot_session(config: BenchConfig, group: ServerGroup, port: int) -> AbstractContextManager[list[str]]:
    return _werobot(config, group, port, session=True)


@contextmanager
def _gateway_alone(config: BenchConfig, group: ServerGroup, port: int) -> Iterator[list[str]]:
    database = config.workdir / f"gateway-{port}.db"
    command = [sys.executable, "-m", "bench.peers.gateway_alone", "--port", str(port), "--db", str(database)]
    try:
        group.spawn([*command, "--workers", str(config.workers)], cwd=ROOT)
        group.wait_ready(port)
        yield []
    finally:
        group.stop()


def _scrm_serve(postgres: bool) -> Runner:
    @contextmanager
    def run(config: BenchConfig, group: ServerGroup, port: int) -> Iterator[list[str]]:
        notes: list[str] = []
        if postgres and not config.pg_url:
            raise RuntimeError("scrm-pg needs --pg-url")
        database = ProductDatabase.create(config.workdir, config.pg_url if postgres else "", f"scrm-{port}")
        try:
            env = product_env(database.url, port, config.api_base)
            prepare(env, config.workdir, group)
            if config.dispatch_backlog:
                asyncio.run(add_dispatch_backlog(database.url, config.dispatch_backlog))
            started = time.monotonic()
            start_serve(group, env, config.workdir, config.workers, port)
            group.database_url = database.url
            yield notes
            group.stop()
            served = time.monotonic() - started
            if config.dispatch_backlog:
                counts = asyncio.run(push_counts(database.url))
                sent = counts.get("sent", 0)
                notes.append(
                    f"outbox: {sent:,} of {config.dispatch_backlog:,} backlog pushes sent while serving "
                    f"({sent / served:,.0f}/s over {served:.0f} s); by status {counts}"
                )
        finally:
            group.stop()
            database.drop()

    return run


TARGETS = {
    target.name: target
    for target in (
        Target("scrm", "scrm serve, SQLite", _scrm_serve(postgres=False), product=True, guess_rps=3000),
        Target("scrm-pg", "scrm serve, PostgreSQL", _scrm_serve(postgres=True), product=True, guess_rps=3000),
        Target("bare", "bare aiohttp `success` (ceiling)", _bare, replies=False, guess_rps=30000),
        Target("echo", "wechatpy + aiohttp echo", _echo, guess_rps=10000),
        Target("werobot", "WeRoBot, gunicorn 2 sync", _werobot, guess_rps=5000),
        Target("werobot-session", "WeRoBot + SQLite session", _werobot_session, guess_rps=1500),
        Target("gateway", "gateway app alone, SQLite", _gateway_alone, guess_rps=6000),
    )
}
