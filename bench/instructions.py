"""Instructions per callback of `scrm serve`, counted by callgrind: a figure the machine's load does not move.

    .venv/bin/python bench/instructions.py                          # plaintext and safe, 1,000 callbacks each
    .venv/bin/python bench/instructions.py --modes safe --callbacks 2000
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/instructions.py   # the same for other code (A/B)

Throughput on a shared two-core machine moves by a quarter between runs, so a change of 10% to the
callback path cannot be seen in it. Callgrind counts the instructions the server process executes (all
its threads, SQLite and the C extensions included; the kernel not), the same to a fraction of a percent
from run to run whatever else the machine does. It is how a change to the callback path is compared with
the code before it; it is not a throughput (a system call, a wake-up or a wait for a lock costs nothing
here), and the callbacks/s figures stay with bench/callbacks.py.

The server is the product as bench/product.py starts it (a fresh SQLite database, `scrm db upgrade`, the
seed content, the fake WeChat API), with one worker, under `valgrind --tool=callgrind --instr-atstart=no`
(about 50 times slower: its own deadlines are not reached at 8 connections). 300 callbacks warm it up
uncounted; then counting is switched on (`callgrind_control`) for N distinct, freshly signed text
messages over C connections, and switched off again. Needs valgrind (`apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the bench package lives beside this file
    sys.path.insert(0, str(ROOT))

from bench.processes import ServerGroup, free_port, load_average  # noqa: E402
from bench.product import prepare, product_env, run_directory, scrm_command  # noqa: E402
from bench.signed_requests import MODES, RequestFactory, SafeModeSealer  # noqa: E402

WARM_UP = 300


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default=",".join(MODES), help="plaintext,safe (default both)")
    parser.add_argument("--callbacks", type=int, default=1000, help="counted callbacks per mode (default 1000)")
    parser.add_argument("--connections", type=int, default=8, help="connections they are sent over (default 8)")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, callgrind dumps)")
    args = parser.parse_args(argv)
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if unknown := set(args.modes) - set(MODES):
        parser.error(f"unknown mode(s) {sorted(unknown)}")
    return args


async def _send(port: int, requests: list[bytes]) -> dict[str, int]:
    """Send `requests` one after another on one connection; count the answers by status."""
    counts: dict[str, int] = {}
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in requests:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1].decode()
            lines = head.lower().split(b"\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in lines if line.startswith(b"content-length:")), 0)
            body = await reader.readexactly(length)
            key = "success" if body == b"success" else status
            counts[key] = counts.get(key, 0) + 1
    finally:
        writer.close()
    return counts


async def _burst(port: int, factory: RequestFactory, mode: str, count: int, connections: int) -> dict[str, int]:
    timestamp = int(time.time())
    requests = [factory.build(mode, number, timestamp) for number in factory.take(count)]
    totals: dict[str, int] = {}
    for counts in await asyncio.gather(*(_send(port, requests[k::connections]) for k in range(connections))):
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def _control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=120)


def _counted_instructions(dump: Path) -> int:
    # The header's "summary:" is written before anything is counted; the closing "totals:" holds the count.
    totals = [line for line in dump.read_text().splitlines() if line.startswith("totals:")]
    if not totals:
        raise RuntimeError(f"no totals in {dump}")
    return int(totals[-1].split()[1])


def measure(mode: str, args: argparse.Namespace, workdir: Path, api_base: str) -> tuple[int, dict[str, int]]:
    """Instructions per counted callback in `mode`, and the answers by status."""
    port = free_port()
    group = ServerGroup(f"scrm serve ({mode})", workdir / f"serve-{mode}.log")
    env = product_env(f"sqlite+aiosqlite:///{workdir}/{mode}.db", port, api_base)
    out = workdir / f"callgrind-{mode}.out"
    try:
        prepare(env, workdir, group)
        group.spawn(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
             sys.executable, scrm_command(), "serve", "--workers", "1"],
            env=env, cwd=workdir,
        )  # fmt: skip
        group.wait_ready(port, "/healthz", timeout=900)
        pid = str(group.processes[0].pid)
        factory = RequestFactory(host=f"127.0.0.1:{port}", sealer=SafeModeSealer())
        asyncio.run(_burst(port, factory, mode, WARM_UP, args.connections))
        _control("--zero", pid)
        _control("--instr=on", pid)
        answers = asyncio.run(_burst(port, factory, mode, args.callbacks, args.connections))
        _control("--instr=off", pid)
        _control("--dump", pid)
    finally:
        group.stop()
    dumps = sorted(workdir.glob(f"callgrind-{mode}.out.*"))
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump: {group.tail()}")
    return _counted_instructions(dumps[-1]) // args.callbacks, answers


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install valgrind")
    served = subprocess.run(
        [sys.executable, "-c", "import gateway, pathlib; print(pathlib.Path(gateway.__file__).parents[1])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    print(
        f"scrm serve --workers 1 under callgrind, the code in {served}; "
        f"{args.callbacks:,} counted callbacks per mode over {args.connections} connections, "
        f"after {WARM_UP} uncounted; load average {load_average()}",
        flush=True,
    )
    with run_directory("instructions-", keep=args.keep) as (workdir, api_base):
        for mode in args.modes:
            per_callback, answers = measure(mode, args, workdir, api_base)
            print(f"{mode:<10} {per_callback:>12,} instructions per callback   answers {answers}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
