"""The product as a user starts it: a fresh database, `scrm db upgrade`, `scrm content load content/seed`,
then `scrm serve --workers N` with the WECHAT_* variables, its defaults otherwise (console, scheduler,
journeys, log level). Its WeChat API is the fake (`python -m sandbox.fake_wechat`), so late replies,
token refreshes and pushes go somewhere real over loopback.

With a dispatch backlog, followers who wrote five minutes ago (their customer-service window is open)
each get a due service push before the server starts, and the scheduler's dispatcher drains them while
the callbacks are measured.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.processes import ServerGroup, free_port
from bench.signed_requests import AES_KEY, APPID, APPSECRET, TOKEN

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
SEED = ROOT / "content" / "seed"
PUSH_BODY = {"kind": "text", "purpose": "service", "content": "{{ profile.name }}，您的积分已到账"}
# Well above any id the product gives its own followers and templates during a run.
FIRST_BACKLOG_ID = 10_000_000


def csrf_token(html: str) -> str:
    """The CSRF token of a console page (its forms' hidden field), as a script signing in reads it."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    if found is None:
        raise RuntimeError("the console's page has no CSRF field")
    return found.group(1)


def scrm_command() -> str:
    scrm = Path(sys.executable).parent / "scrm"
    if not scrm.exists():
        raise SystemExit(f"no {scrm}: install the project into this virtualenv (pip install -e .)")
    return str(scrm)


@dataclass
class ProductDatabase:
    """A database nobody else uses, made for one server start and removed after it."""

    url: str
    admin_url: str = ""
    name: str = ""

    @classmethod
    def create(cls, workdir: Path, pg_url: str, label: str) -> ProductDatabase:
        if not pg_url:
            return cls(f"sqlite+aiosqlite:///{workdir}/{label}.db")
        # A fresh database beside the given one: other work on the server keeps its tables.
        name = f"scrm_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = make_url(pg_url)
        asyncio.run(_postgres(admin.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"'))
        url = admin.set(database=name).render_as_string(hide_password=False)
        return cls(url, admin.render_as_string(hide_password=False), name)

    def drop(self) -> None:
        if self.name:
            asyncio.run(_postgres(self.admin_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


async def _postgres(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def product_env(db_url: str, port: int, api_base: str) -> dict[str, str]:
    return {
        **os.environ,
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APPID": APPID,
        "WECHAT_AES_KEY": AES_KEY,
        "WECHAT_APPSECRET": APPSECRET,
        "WECHAT_API_BASE": api_base,
        "SCRM_DATABASE_URL": db_url,
        "SCRM_HOST": "127.0.0.1",
        "SCRM_PORT": str(port),
    }


def prepare(env: dict[str, str], workdir: Path, group: ServerGroup) -> None:
    """`scrm db upgrade` then `scrm content load content/seed`, as the operator's first two commands."""
    for args in (["db", "upgrade"], ["content", "load", str(SEED)]):
        with group.log.open("ab") as log:
            done = subprocess.run([scrm_command(), *args], cwd=workdir, env=env, stdout=log, stderr=log, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"scrm {' '.join(args)} failed: {group.tail()}")


def start_serve(group: ServerGroup, env: dict[str, str], workdir: Path, workers: int, port: int) -> None:
    group.spawn([scrm_command(), "serve", "--workers", str(workers)], env=env, cwd=workdir)
    group.wait_ready(port, "/healthz", timeout=120)


async def add_dispatch_backlog(db_url: str, pushes: int) -> None:
    """`pushes` followers inside their 48-hour window, each with one service push due now."""
    from storage.pushes import FOLLOWERS, PUSHES

    now = datetime.now(UTC)
    stored_now = now if db_url.startswith("postgresql") else now.replace(tzinfo=None)
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as conn:
            version = FIRST_BACKLOG_ID
            await conn.execute(
                text(
                    "INSERT INTO templates (id, name, kind, purpose, description, current_version_id, created_at, "
                    "updated_at, updated_by) VALUES (:id, 'bench_points', 'text', 'service', '', :id, :now, :now, '')"
                ),
                {"id": version, "now": stored_now},
            )
            await conn.execute(
                text(
                    "INSERT INTO template_versions (id, template_id, version, body, content_hash, state, created_at, "
                    "created_by) VALUES (:id, :id, 1, :body, 'bench', 'published', :now, '')"
                ),
                {"id": version, "body": json.dumps(PUSH_BODY), "now": stored_now},
            )
        for start in range(0, pushes, 10_000):
            ids = range(FIRST_BACKLOG_ID + start, FIRST_BACKLOG_ID + min(pushes, start + 10_000))
            async with engine.begin() as conn:
                await conn.execute(
                    insert(FOLLOWERS),
                    [{"id": i, "appid": APPID, "openid": f"oBacklog{i:020d}", "status": "subscribed", "tags": [],
                      "last_message_at": now - timedelta(minutes=5), "created_at": now, "updated_at": now}
                     for i in ids],
                )  # fmt: skip
                await conn.execute(
                    insert(PUSHES),
                    # Each the first step of a journey run of its own, as every push the product makes is
                    # (bench/dispatch.py says why it matters).
                    [{"follower_id": i, "appid": APPID, "openid": f"oBacklog{i:020d}", "template_version_id": version,
                      "template_kind": "text", "purpose": "service", "context": {}, "status": "pending",
                      "attempts": 0, "step_index": 0, "run_id": i, "due_at": now, "created_at": now}
                     for i in ids],
                )  # fmt: skip
    finally:
        await engine.dispose()


async def push_counts(db_url: str) -> dict[str, int]:
    """Pushes by status (after the server stopped): how much of the backlog the dispatcher drained."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT status, count(*) FROM pushes GROUP BY status"))).all()
    finally:
        await engine.dispose()
    return {str(status): int(count) for status, count in rows}


@contextmanager
def run_directory(prefix: str, *, keep: bool) -> Iterator[tuple[Path, str]]:
    """A fresh directory under bench/out for one run, and the fake WeChat API serving beside it (its base URL).

    The API is stopped afterwards, and the directory removed unless `keep`.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=OUT))
    port = free_port()
    fake = ServerGroup("fake WeChat API", workdir / "fake-wechat.log")
    try:
        fake.spawn([sys.executable, "-m", "sandbox.fake_wechat", "--port", str(port)], cwd=ROOT)
        fake.wait_ready(port)
        yield workdir, f"http://127.0.0.1:{port}"
    finally:
        fake.stop()
        if keep:
            print(f"logs, databases and dumps kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
