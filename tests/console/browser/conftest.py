"""A real headless Chromium driving the console, served in-process on 127.0.0.1 in the test's own loop."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} is not installed (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("python playwright is not installed (pip install playwright)")
    if not missing:
        return
    skip = pytest.mark.skip(reason="browser tests need Chromium and playwright: " + "; ".join(missing))
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
async def browser_page() -> AsyncIterator[Any]:
    """A fresh page in headless Chromium (no network beyond 127.0.0.1 is ever asked for)."""
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = await context.new_page()
        outside: list[str] = []
        page.on("request", lambda request: outside.append(request.url) if "127.0.0.1" not in request.url else None)
        yield page
        await browser.close()
        assert outside == [], f"the console fetched outside assets: {outside}"


def shot(name: str) -> Path:
    """Where a screenshot goes (tests/artifacts/, ignored by git)."""
    return ARTIFACTS / f"console-{name}.png"
