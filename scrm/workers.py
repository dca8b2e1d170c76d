"""Several serving processes on one port: one pre-bound SO_REUSEPORT socket and one forked child each.

One Python process serves callbacks on one core at most, so `scrm serve --workers N` forks N children,
each with its own event loop, engine and group commit (built by `run_child` after the fork, never
inherited). Everything they share already lives in the database: de-duplication, the access token,
conversation state, the push outbox and the scheduler lease, so exactly one child runs the jobs.

The parent binds every socket before forking, so a port already in use fails here with one clear error
instead of being silently shared with another process that also set SO_REUSEPORT; the kernel then
spreads new connections over the children's sockets. Afterwards the parent only supervises:

- SIGTERM or SIGINT to the parent is passed on as one SIGTERM to every child; each drains exactly as a
  single `scrm serve` does (in-flight callbacks, late replies, after-reply work), and the parent exits
  when all have.
- A child ignores every signal after the first, so a SIGTERM that reaches it twice (from the parent and
  from a supervisor signalling the whole process group, or Ctrl+C in a terminal) cannot cut its drain.
- A child that exits on its own makes the parent stop the others and exit 1, so the service manager
  restarts a whole set rather than leaving the port served by fewer processes than configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

from aiohttp.web_runner import GracefulExit

from base.metrics import prepare_multiprocess, remove_multiprocess, worker_exited

log = logging.getLogger("scrm.workers")
# Young collection every 20,000 net allocations (CPython's default: 700), older ones rarer too.
SERVING_GC_THRESHOLDS = (20_000, 20, 50)


def bind_sockets(host: str, port: int, count: int, *, backlog: int = 128) -> list[socket.socket]:
    """`count` listening TCP sockets on host:port, all with SO_REUSEPORT (port 0: one free port for all)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            # Port 0 picks a free port for the first socket; the others must share that same one.
            port = sock.getsockname()[1]
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def serving_loop() -> asyncio.AbstractEventLoop:
    """The event loop a serving process runs on: uvloop where it is installed (not on Windows).

    A callback's own work is small, so the loop's (polling, wake-ups, socket writes) is a good part of
    its cost; uvloop does that in C.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def child_loop() -> asyncio.AbstractEventLoop:
    """An event loop for a worker whose first SIGTERM/SIGINT starts the graceful exit and later ones are ignored.

    Pass it to `web.run_app(..., loop=loop, handle_signals=False)`: aiohttp's own handlers would raise
    again on a second signal, in the middle of the drain.
    """
    loop = serving_loop()
    signalled = False

    def stop() -> None:
        nonlocal signalled
        if signalled:
            log.info("worker pid=%d already draining; signal ignored", os.getpid())
            return
        signalled = True
        raise GracefulExit()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    return loop


def freeze_startup_heap() -> None:
    """Move everything alive now (modules, table metadata, the app) out of the cyclic collector's reach.

    A full collection otherwise walks that whole heap: measured at up to 77 ms under load, a pause every
    request in flight waits out, and most of the callbacks' 99th-percentile latency. Call it once the
    serving application is built, just before serving.

    It also makes collections rarer (`SERVING_GC_THRESHOLDS`): nearly all of a callback's garbage is
    freed by reference counting, so the collector's frequent passes only cost time; in the callback
    benchmark this raised plaintext throughput about 20% and lowered p99 at 64 connections.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_GC_THRESHOLDS)


def serve_workers(run_child: Callable[[socket.socket], None], sockets: list[socket.socket]) -> int:
    """Fork one child per socket running `run_child(sock)`, supervise them, return the exit code.

    The children share one Prometheus multiprocess directory (base.metrics), so a scrape of `/metrics`
    that reaches any of them reports the whole set; it is removed when the set stops.
    """
    metrics_dir = prepare_multiprocess()
    try:
        return _fork_and_supervise(run_child, sockets)
    finally:
        remove_multiprocess(metrics_dir)


def _fork_and_supervise(run_child: Callable[[socket.socket], None], sockets: list[socket.socket]) -> int:
    supervisor = _Supervisor()
    # Installed before the first fork, so a SIGTERM arriving meanwhile cannot orphan the children.
    previous = {signum: signal.signal(signum, supervisor.on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        for sock in sockets:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child, which never returns here
                _run_in_child(run_child, sock, sockets)
            supervisor.children.add(pid)
            if supervisor.stopping:
                supervisor.stop_all()
        for sock in sockets:
            sock.close()
        log.info("serving with %d worker processes pids=%s", len(sockets), ",".join(map(str, supervisor.children)))
        return supervisor.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run_in_child(
    run_child: Callable[[socket.socket], None], sock: socket.socket, sockets: list[socket.socket]
) -> None:
    # The parent's handlers must not run here; the child's loop installs its own.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    for other in sockets:
        if other is not sock:
            other.close()
    code = 0
    try:
        run_child(sock)
    except BaseException:  # the child must always reach os._exit below, never the parent's code
        log.exception("worker pid=%d failed", os.getpid())
        code = 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class _Supervisor:
    """The parent's view of its children: who is running, and whether a stop was asked for."""

    def __init__(self) -> None:
        self.children: set[int] = set()
        self.stopping = False
        self._signalled: set[int] = set()

    def on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        # No logging here: a signal handler may interrupt the logging module while it holds its lock.
        self.stopping = True
        self.stop_all()

    def stop_all(self) -> None:
        """One SIGTERM to every child not yet sent one."""
        for pid in self.children - self._signalled:
            self._signalled.add(pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def wait(self) -> int:
        """Reap every child; 0 when all stopped because they were asked to and exited cleanly."""
        code = 0
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            if pid not in self.children:
                continue
            self.children.discard(pid)
            worker_exited(pid)
            exit_code = os.waitstatus_to_exitcode(status)
            if not self.stopping:
                log.error("worker pid=%d exited on its own (code %d); stopping the others", pid, exit_code)
                self.stopping = True
                code = 1
                self.stop_all()
            elif exit_code != 0:
                log.error("worker pid=%d exited with code %d while stopping", pid, exit_code)
                code = 1
        return code


__all__ = ["bind_sockets", "child_loop", "serve_workers"]
