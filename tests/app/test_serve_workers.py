"""`scrm serve --workers 2`: two processes serve one port, one of them leads the scheduler, SIGTERM stops both."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.app.serving import children, scrm_serve
from tests.support.wechat import TestAccount, plaintext_callback, read_reply, text_xml

ACCOUNT = TestAccount(appid="wx000000000workers", token="workerstoken")


async def _ask(port: int, number: int) -> str:
    xml = text_xml(f"o-serve-{number}", "你好", msg_id=f"77{number}")
    callback = plaintext_callback(ACCOUNT, xml, timestamp=int(time.time()))
    # A connection per callback, so the kernel spreads them over both workers.
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{port}/wechat", params=callback.params, data=callback.body) as response,
    ):
        body = await response.text()
        assert response.status == 200 and body.startswith("<xml>"), body
        return read_reply(ACCOUNT, body)["Content"]


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    """`scrm serve --workers 2` on a fresh SQLite file: (port, the parent process, its log file)."""
    with scrm_serve(tmp_path, ACCOUNT, workers=2) as served:
        yield served.port, served.process, served.log_path


def _wait_for_leader(log_path: Path) -> str:
    # Generous: a loaded machine (the test suite beside other work) took over 10 s to start the scheduler.
    give_up = time.monotonic() + 30
    while "is the scheduler leader" not in log_path.read_text():
        assert time.monotonic() < give_up, log_path.read_text()
        time.sleep(0.1)
    return log_path.read_text()


async def _warm_up(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait until the workers answer inline: a cold worker on a loaded machine may take longer than the
    reply deadline for its first callbacks and answer `success` (the reply then goes through the API)."""
    give_up, in_a_row, number = time.monotonic() + 60, 0, 1000
    while in_a_row < 8:
        assert time.monotonic() < give_up, "the workers never answered a callback inline"
        xml = text_xml(f"o-warm-{number}", "你好", msg_id=str(number))
        callback = plaintext_callback(ACCOUNT, xml, timestamp=int(time.time()))
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(f"http://127.0.0.1:{port}/wechat", params=callback.params, data=callback.body) as response,
            ):
                in_a_row = in_a_row + 1 if (await response.text()).startswith("<xml>") else 0
        except aiohttp.ClientConnectionError as error:
            # Nothing listens once the workers are gone: say why, from their log.
            log = await asyncio.to_thread(log_path.read_text)
            pytest.fail(f"{error}; scrm serve exit code {process.poll()}; its log:\n{log}")
        number += 1


async def _scrape(port: int) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        return await response.text()


async def _answered_inline(port: int) -> float:
    found = re.search(r'^scrm_callbacks_total\{outcome="inline"\} ([0-9.e+]+)$', await _scrape(port), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_serve_with_two_workers(serving: tuple[int, subprocess.Popen[bytes], Path]) -> None:
    port, process, log_path = serving
    workers = children(process.pid)
    assert len(workers) == 2
    await _warm_up(port, process, log_path)
    before = await _answered_inline(port)
    replies = await asyncio.gather(*(_ask(port, number) for number in range(12)))
    assert len(replies) == 12 and len(set(replies)) == 1 and replies[0], replies
    # Both workers take part in the election as soon as they start; exactly one wins.
    await asyncio.to_thread(_wait_for_leader, log_path)
    # Whichever worker a scrape reaches, it counts the callbacks both answered, and one leader.
    for _ in range(4):
        assert await _answered_inline(port) == before + 12
        assert "scrm_scheduler_leader 1.0" in await _scrape(port)
    process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.wait, 30) == 0
    text = await asyncio.to_thread(log_path.read_text)
    assert text.count("is the scheduler leader") == 1, text
    assert not any(pid in children(process.pid) for pid in workers)
    assert await asyncio.to_thread(lambda: [pid for pid in workers if Path(f"/proc/{pid}").exists()]) == []


def test_a_serving_process_runs_on_uvloop_and_on_asyncio_where_uvloop_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvloop

    from scrm.workers import serving_loop

    loop = serving_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as on Windows: importing it fails
    loop = serving_loop()
    try:
        assert not isinstance(loop, uvloop.Loop) and loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()
