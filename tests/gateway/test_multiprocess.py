"""Gateway OS processes on one database (separate, or workers sharing a port): one handler run per message."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlmodel import select

from storage.db import Database
from storage.models.core import AuditEntry, InboundEvent
from tests.gateway import gateway_process
from tests.support.wechat import TestAccount, read_reply, safe_callback, text_xml

pytestmark = pytest.mark.concurrency

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = TestAccount(appid=gateway_process.APPID, token=gateway_process.TOKEN, aes_key=gateway_process.AES_KEY)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    give_up = time.monotonic() + 20
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise RuntimeError(f"gateway process exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("gateway process did not start")


@pytest.fixture
def two_gateways(db: Database, db_url: str) -> Iterator[list[int]]:
    ports = [_free_port(), _free_port()]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        # A fixed argv: this interpreter running the helper module of this test package.
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "tests.gateway.gateway_process", db_url, str(port)], cwd=ROOT, env=env
        )
        for port in ports
    ]
    try:
        for port, process in zip(ports, processes, strict=True):
            _wait_until_serving(port, process)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


async def test_the_same_message_sent_to_two_processes_runs_once(two_gateways: list[int], db: Database) -> None:
    xml = text_xml("o-multi", "抢答", msg_id="9001")
    async with aiohttp.ClientSession() as http:

        async def deliver(port: int, nonce: str) -> str:
            callback = safe_callback(ACCOUNT, xml, timestamp=int(time.time()), nonce=nonce)
            async with http.post(f"http://127.0.0.1:{port}/wechat", params=callback.params, data=callback.body) as r:
                assert r.status == 200
                return await r.text()

        first, second = await asyncio.gather(deliver(two_gateways[0], "a"), deliver(two_gateways[1], "b"))
        third = await deliver(two_gateways[1], "c")
    replies = {read_reply(ACCOUNT, body)["Content"] for body in (first, second, third)}
    assert len(replies) == 1 and replies.pop().startswith("handled by pid")
    async with db.session() as session:
        runs = (await session.exec(select(AuditEntry).where(AuditEntry.action == "handled"))).all()
    assert len(runs) == 1


def _start_workers(db_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(  # noqa: S603 - a fixed argv, as above
        [sys.executable, "-m", "tests.gateway.gateway_process", db_url, str(port), str(workers)], cwd=ROOT, env=env
    )
    _wait_until_serving(port, process)
    return process


@pytest.fixture
def two_workers(db: Database, db_url: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = _free_port()
    process = _start_workers(db_url, port, 2)
    try:
        yield port, process
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=20)


async def _worker_pids(port: int) -> set[str]:
    """The pids answering on `port`, asked over fresh connections until two are seen (or 60 tries)."""
    seen: set[str] = set()
    for _ in range(60):
        # A new connection each time: the kernel picks a worker per connection.
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/pid") as response:
            seen.add(await response.text())
        if len(seen) == 2:
            break
    return seen


async def _deliver_on_new_connections(port: int, xmls: list[str]) -> list[str]:
    async def deliver(xml: str, nonce: str) -> str:
        callback = safe_callback(ACCOUNT, xml, timestamp=int(time.time()), nonce=nonce)
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{port}/wechat", params=callback.params, data=callback.body) as response,
        ):
            assert response.status == 200
            return read_reply(ACCOUNT, await response.text())["Content"]

    return list(await asyncio.gather(*(deliver(xml, f"n{number}") for number, xml in enumerate(xmls))))


async def test_two_workers_on_one_sqlite_file_run_a_retried_message_once(
    two_workers: tuple[int, subprocess.Popen[bytes]], db: Database
) -> None:
    port, _process = two_workers
    assert len(await _worker_pids(port)) == 2
    replies = await _deliver_on_new_connections(port, [text_xml("o-workers", "抢答", msg_id="9101")] * 8)
    assert len(set(replies)) == 1 and replies[0].startswith("handled by pid")
    async with db.session() as session:
        runs = (await session.exec(select(AuditEntry).where(AuditEntry.action == "handled"))).all()
    assert len(runs) == 1


async def _claimed(db: Database) -> list[str]:
    async with db.session() as session:
        return list((await session.exec(select(InboundEvent.state))).all())


async def test_sigterm_drains_every_worker(two_workers: tuple[int, subprocess.Popen[bytes]], db: Database) -> None:
    port, process = two_workers
    xmls = [text_xml(f"o-drain-{number}", "慢", msg_id=f"92{number:02d}") for number in range(8)]
    delivering = asyncio.create_task(_deliver_on_new_connections(port, xmls))
    # SIGTERM once every callback is claimed, so in its handler's 0.3 s sleep: a connection still in
    # the kernel's accept queue when the listening socket closes is reset, by any server.
    give_up = time.monotonic() + 10
    while len(await _claimed(db)) < len(xmls):
        assert time.monotonic() < give_up
        await asyncio.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    replies = await delivering
    assert all(reply.startswith("handled by pid") for reply in replies)
    assert await asyncio.to_thread(process.wait, 20) == 0
    async with db.session() as session:
        runs = (await session.exec(select(AuditEntry).where(AuditEntry.action == "handled"))).all()
    assert await _claimed(db) == ["done"] * 8 and len(runs) == 8
