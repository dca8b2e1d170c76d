"""SIGTERM to `scrm serve`: every request in flight is answered or refused at once, and the process exits.

A callback whose body is still arriving when SIGTERM comes used to get no answer at all: aiohttp waited
its whole shutdown timeout (10 s) for the handler, cancelled it and closed the connection in silence, so
the process also took 10 s to exit. The bounds below are generous (a loaded machine), well under that.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.app.serving import Served, scrm_serve
from tests.support.wechat import TestAccount, plaintext_callback, text_xml

ACCOUNT = TestAccount(appid="wx00000000shutdown", token="shutdowntoken")
PROMPTLY = 5.0  # seconds; what this fixes took 10


def _connect(served: Served) -> socket.socket:
    """A connection the server has surely accepted: it answered a first request on it (kept alive)."""
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        status, _headers, _body = _read_response(sock)
    except OSError as error:
        sock.close()
        # A worker that died at startup resets the connections waiting on its socket: its log says why.
        raise AssertionError(f"{error!r}; the server's log:\n{served.log_path.read_text()}") from error
    assert status == 200
    return sock


def _read_response(sock: socket.socket) -> tuple[int | None, dict[str, str], bytes]:
    """One HTTP response: (status, lower-cased headers, body); status None when the server closed without one."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, {}, data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def _callback_head(number: int) -> tuple[bytes, bytes]:
    """The request line and headers of a signed plaintext callback, and its body."""
    callback = plaintext_callback(
        ACCOUNT, text_xml(f"o-shutdown-{number}", "你好", msg_id=f"66{number}"), timestamp=int(time.time())
    )
    head = (
        f"POST /wechat?{urlencode(callback.params)} HTTP/1.1\r\nHost: test\r\n"
        f"Content-Type: text/xml\r\nContent-Length: {len(callback.body)}\r\n\r\n"
    )
    return head.encode("ascii"), callback.body


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_answers_half_received_callbacks_and_exits_promptly(tmp_path: Path, workers: int) -> None:
    with scrm_serve(tmp_path, ACCOUNT, workers=workers) as served, contextlib.ExitStack() as stack:
        in_flight, stalled, headers_only = (stack.enter_context(_connect(served)) for _ in range(3))
        # The test holds SQLite's write lock, so a complete callback waits in its handler (for its claim).
        writer = stack.enter_context(contextlib.closing(sqlite3.connect(tmp_path / "serve.db", isolation_level=None)))
        writer.execute("BEGIN IMMEDIATE")
        head, body = _callback_head(1)
        in_flight.sendall(head + body)
        head, body = _callback_head(2)
        stalled.sendall(head + body[:20])  # and never the rest
        headers_only.sendall(b"POST /wechat HTTP/1.1\r\nHost: test\r\n")  # not even the end of its headers
        time.sleep(1.0)  # the server has read both callbacks' headers: one waits for the lock, one for its body
        signalled = time.monotonic()
        served.process.send_signal(signal.SIGTERM)

        refused = _read_response(stalled)
        refused_after = time.monotonic() - signalled
        closed_after_refusal = stalled.recv(1) == b""
        headers_only_answer = _read_response(headers_only)
        headers_only_after = time.monotonic() - signalled
        writer.execute("ROLLBACK")
        finished = _read_response(in_flight)
        code = served.process.wait(timeout=30)
        exited_after = time.monotonic() - signalled
        log = served.log_path.read_text()
        timings = f"refused after {refused_after:.2f} s, exited after {exited_after:.2f} s"

        status, headers, reply = refused
        assert status == 503 and headers.get("connection", "").lower() == "close", (status, headers, reply, timings)
        assert refused_after < PROMPTLY and closed_after_refusal, timings
        # Refused by closing: nothing of it was handled, and the client may send it again.
        assert headers_only_answer[0] is None and headers_only_after < PROMPTLY, (headers_only_answer, timings)
        status, _headers, reply = finished
        assert status == 200, (status, reply, timings, log)
        # Inline, or `success` when a cold, loaded process passed the reply deadline (then through the API).
        assert reply.startswith(b"<xml>") or reply == b"success", reply
        assert code == 0 and "Traceback" not in log, log
        assert exited_after < PROMPTLY, (timings, log)
