"""One measured cell: fresh requests written to files, then wrk with bench/walk_requests.lua, parsed.

wrk (C, epoll, one thread per core) costs the servers far less CPU than a Python client. Its latency
covers every answered request; `--timeout` is longer than the product's reply deadline so slow answers
are measured, not dropped as timeouts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.signed_requests import RequestFactory, write_request_files

SCRIPT = Path(__file__).with_name("walk_requests.lua")
WRK_INSTALL = "apt-get update && apt-get install -y wrk   (Debian/Ubuntu; or build github.com/wg/wrk)"


@dataclass(frozen=True)
class CellResult:
    """What wrk saw in one cell; rates and times over the span wrk actually ran."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    replied: int
    late: int
    other: int
    handshakes: int
    sent: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def find_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit(f"wrk is not installed; install it with: {WRK_INSTALL}")
    return wrk


def run_cell(
    factory: RequestFactory,
    *,
    port: int,
    mode: str,
    connections: int,
    duration: float,
    count: int,
    workdir: Path,
    threads: int = 2,
) -> CellResult:
    """Write `count` distinct requests, then load 127.0.0.1:`port` for `duration` seconds (or until used up)."""
    threads = max(1, min(threads, connections))
    prefix = workdir / "requests"
    write_request_files(factory, mode, count, threads, prefix)
    command = [
        find_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT),
        f"http://127.0.0.1:{port}",
        "--",
        str(prefix),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120, check=False)
    finally:
        for path in workdir.glob("requests.*"):
            path.unlink()
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-1500:]} {done.stderr[-1500:]}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return CellResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        non_2xx=raw["status"],
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        replied=raw["replied"],
        late=raw["late"],
        other=raw["other"],
        handshakes=raw["extra"],
        sent=raw["sent"],
    )
