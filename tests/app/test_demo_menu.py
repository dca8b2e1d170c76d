"""`scrm demo` publishes the seed menu through the menu API, and the sandbox shows it to followers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.app.serving import ROOT, accepting, free_port


def test_the_demo_menu_reaches_the_sandbox(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "SCRM_PORT": str(port),
    }
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        argv = [sys.executable, "-m", "scrm.cli.main", "demo"]
        process = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=log)  # noqa: S603 - our own CLI
    try:
        give_up = time.monotonic() + 60
        menu: list[dict[str, str]] = []
        while not menu:
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < give_up, log_path.read_text()
            time.sleep(0.3)
            if not accepting(port):
                continue
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/sandbox/api/state", timeout=5) as answer:  # noqa: S310
                menu = json.loads(answer.read())["menu"]
        # The seed menu as published: three click buttons (one of them in a group) and the shop's link.
        assert [(item["type"], item["key"] or item["url"]) for item in menu] == [
            ("click", "MENU_STORY"),
            ("click", "MENU_STORES"),
            ("click", "MENU_MEMBER"),
            ("view", "https://shop.example.com/"),
        ]
    finally:
        process.kill()
        process.wait()
