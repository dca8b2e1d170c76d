"""Two gateway OS processes on one database receive the same retried message: one handler run."""

from __future__ import annotations

import asyncio
import os
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
from storage.models.core import AuditEntry
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
