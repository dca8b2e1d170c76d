"""Start `scrm serve` as an operator does (a subprocess on a fresh SQLite file) and look at its processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.wechat import TestAccount

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Served:
    """A running `scrm serve`: its port, its (parent) process and the file its log goes to."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    """The pids whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The parent pid is the second field after the parenthesised command name.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@contextmanager
def scrm_serve(tmp_path: Path, account: TestAccount, workers: int = 1) -> Iterator[Served]:
    """`scrm serve [--workers N]` serving `account`, once it accepts connections (killed on the way out)."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "SCRM_PORT": str(port),
        "WECHAT_APPID": account.appid,
        "WECHAT_TOKEN": account.token,
        # Scheduled jobs and late replies that call WeChat reach a closed port, never the real API.
        "WECHAT_API_BASE": "http://127.0.0.1:9",
    }
    argv = [sys.executable, "-m", "scrm.cli.main", "serve"]
    if workers > 1:
        argv += ["--workers", str(workers)]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=tmp_path, env=env, stderr=log)  # noqa: S603 - the project's own CLI
    try:
        give_up = time.monotonic() + 30
        while (workers > 1 and len(children(process.pid)) < workers) or not accepting(port):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < give_up, log_path.read_text()
            time.sleep(0.1)
        yield Served(port, process, log_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
