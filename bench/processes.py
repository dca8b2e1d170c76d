"""Servers as process groups: started in their own session, waited for, measured (CPU) and always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


@dataclass
class ServerGroup:
    """The processes of one server (each the leader of its own process group) and where they log."""

    name: str
    log: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # The product's database while it runs (the click cells read the links' key from it).
    database_url: str = ""

    def spawn(self, command: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        # The log is a file: a pipe nobody reads fills up and stalls a server that logs.
        with self.log.open("ab") as log:
            self.processes.append(
                subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
                )
            )

    def wait_ready(self, port: int, health_path: str | None = None, timeout: float = 60.0) -> None:
        """Until the port accepts (and `health_path` answers 200), or raise with the log's tail."""
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited ({process.returncode}): {self.tail()}")
            try:
                if health_path is None:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                else:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}{health_path}", timeout=2).close()  # noqa: S310
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start in {timeout:.0f} s: {self.tail()}")

    def tail(self, size: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-size:] if self.log.exists() else ""

    def cpu_seconds(self) -> float:
        """User + system CPU of every live process in the groups (forked workers included), from /proc."""
        groups = {process.pid for process in self.processes}
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) in groups:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM to every group, then SIGKILL to whatever is still there after 15 s."""
        for process in self.processes:
            _signal_group(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait(5)
            # Workers forked by the leader may outlive it; the group id stays theirs.
            _signal_group(process.pid, signal.SIGKILL)
        self.processes.clear()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)
