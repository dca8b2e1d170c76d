"""The console's profile list on a million profiles: the first page of each filter, on SQLite and PostgreSQL.

    .venv/bin/python bench/profile_list.py                                   # 1,000,000 profiles, both
    .venv/bin/python bench/profile_list.py --profiles 200000 --backend sqlite

Profiles are written straight into a fresh database (executemany on SQLite, COPY on PostgreSQL) with RFM
scores, segments, spend and order counts spread as an import leaves them; 5% have a follower (a channel,
consent rows, journey runs). Each filter's first page (`storage.profile_list.list_profiles`: the page and
the capped count, as the console asks) is timed 5 times; the table shows the median and the worst. Goal:
under 300 ms each.

With `--page`, each filter's whole console page is timed too: `GET /console/profiles?<filter>` from the
console served in-process, signed in (the page's other queries, the template, the HTTP round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


from storage.db import Database  # noqa: E402
from storage.migrate import upgrade_async  # noqa: E402
from storage.profile_list import COUNT_CAP, ProfileFilter, list_profiles  # noqa: E402

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SEGMENTS = ("prospect", "new", "active", "loyal", "champion", "promising", "needs_attention", "at_risk", "lapsed")
SCENES = ("store-1", "store-2", "kol-7", "popup_1111", "ads")
FILTERS: dict[str, ProfileFilter] = {
    "everyone, by last order": ProfileFilter(),
    "everyone, by spend": ProfileFilter(sort="spend"),
    "segment champion": ProfileFilter(segment="champion"),
    "segment at_risk, by spend": ProfileFilter(segment="at_risk", sort="spend"),
    "R>=4 F>=3 M>=3": ProfileFilter(r_min=4, f_min=3, m_min=3),
    "3+ orders, spend >= ¥500": ProfileFilter(orders_min=3, spend_min_fen=50_000),
    "bound": ProfileFilter(bound="yes"),
    "not bound, by orders": ProfileFilter(bound="no", sort="orders"),
    "channel kol-7": ProfileFilter(channel="kol-7"),
    "marketing consent": ProfileFilter(consent="yes"),
    "no marketing consent, bound": ProfileFilter(consent="no", bound="yes"),
    "active in 30 days": ProfileFilter(active_days=30),
    "in journey 1": ProfileFilter(journey_id=1),
    "opened 2+ links in 30 days": ProfileFilter(clicks_min=2),
    "lapsed, no orders > 1 (empty)": ProfileFilter(segment="lapsed", orders_max=0, orders_min=1),
}


def _profiles(count: int) -> list[tuple[Any, ...]]:
    rng = random.Random(7)
    rows = []
    for n in range(1, count + 1):
        orders = rng.choice((0, 1, 1, 1, 2, 2, 3, 5, 8))
        spent = orders * rng.randint(3_000, 60_000)
        last = NOW - timedelta(days=rng.randint(0, 720)) if orders else None
        rows.append(
            (n, f"key{n}", f"sealed{n}", f"138****{n % 10_000:04d}", None, None, orders, spent,
             spent // orders if orders else 0, last, last, None, "[]", rng.randint(1, 5) if orders else 0,
             rng.randint(1, 5) if orders else 0, rng.randint(1, 5) if orders else 0,
             rng.choice(SEGMENTS[1:]) if orders else "prospect", "customer" if orders else "prospect", "[]",
             None, NOW, NOW)
        )  # fmt: skip
    return rows


PROFILE_COLUMNS = (
    "id, phone_key, phone_sealed, phone_masked, name, city, order_count, total_spent_fen, avg_order_fen,"
    " first_order_at, last_order_at, last_product, top_products, r_score, f_score, m_score, segment,"
    " lifecycle_stage, tags, erased_at, created_at, updated_at"
)


def _followers(count: int, profiles: int) -> list[tuple[Any, ...]]:
    rng = random.Random(8)
    ids = rng.sample(range(1, profiles + 1), count)
    return [
        (n + 1, "wxbench", f"o{n}", "subscribed", NOW - timedelta(days=400), rng.choice(SCENES),
         NOW - timedelta(days=rng.randint(0, 120)), pid, "[]", NOW, NOW)
        for n, pid in enumerate(ids)
    ]  # fmt: skip


FOLLOWER_COLUMNS = (
    "id, appid, openid, status, subscribed_at, channel_scene, last_interaction_at, profile_id, tags, created_at,"
    " updated_at"
)


CLICK_COLUMNS = (
    "delivery_kind, delivery_id, template_version_id, link_index, target, follower_id, profile_id, journey_id,"
    " step_key, visitor, via, forwarded, clicked_at"
)


async def _fill(db: Database, profiles: int) -> None:
    followers = _followers(profiles // 20, profiles)
    consents = [(f[0], f[7], "marketing", f[0] % 3 != 0, "", "bench", NOW) for f in followers]
    runs = [(f[0], f[7], 1 + f[0] % 3) for f in followers if f[0] % 4 == 0]
    clicks = [
        ("push", f[0] * 10 + n, 1, 0, "https://shop.example/", f[0], f[7], None, "", f"f:{f[0]}", "authorized", False,
         NOW - timedelta(days=(f[0] * 7 + n * 13) % 60))
        for f in followers if f[0] % 3 == 0 for n in range(1 + f[0] % 4)
    ]  # fmt: skip
    if db.is_postgres:
        async with db.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            cols = [c.strip() for c in PROFILE_COLUMNS.split(",")]
            await raw.copy_records_to_table("profiles", records=_profiles(profiles), columns=cols)
            await raw.copy_records_to_table(
                "followers", records=followers, columns=[c.strip() for c in FOLLOWER_COLUMNS.split(",")]
            )
            await raw.copy_records_to_table(
                "consents",
                records=consents,
                columns=["follower_id", "profile_id", "purpose", "granted", "text_shown", "source", "at"],
            )
            await raw.executemany(
                "INSERT INTO journey_runs (follower_id, profile_id, journey_id, journey_name, journey_version, state,"
                " step_id, context, entered_at, sends_planned, end_reason)"
                " VALUES ($1, $2, $3, 'j', 1, 'active', '', '{}', $4, 0, '')",
                [(f, p, j, NOW) for f, p, j in runs],
            )
            await raw.copy_records_to_table("link_clicks", records=clicks, columns=CLICK_COLUMNS.split(", "))
            await raw.execute("ANALYZE")
        return
    path = db.engine.url.database
    assert path is not None
    import sqlite3

    lite = sqlite3.connect(path)
    stamp = "%Y-%m-%d %H:%M:%S.%f"

    def fix(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(v.strftime(stamp) if isinstance(v, datetime) else v for v in row)

    with lite:
        lite.executemany(
            # The column lists are this module's constants.
            f"INSERT INTO profiles ({PROFILE_COLUMNS}) VALUES ({', '.join('?' * 22)})",  # noqa: S608
            map(fix, _profiles(profiles)),
        )
        lite.executemany(
            f"INSERT INTO followers ({FOLLOWER_COLUMNS}) VALUES ({', '.join('?' * 11)})",  # noqa: S608
            map(fix, followers),
        )
        lite.executemany(
            "INSERT INTO consents (follower_id, profile_id, purpose, granted, text_shown, source, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            map(fix, consents),
        )
        lite.executemany(
            "INSERT INTO journey_runs (follower_id, profile_id, journey_id, journey_name, journey_version, state,"
            " step_id, context, entered_at, sends_planned, end_reason)"
            " VALUES (?, ?, ?, 'j', 1, 'active', '', '{}', ?, 0, '')",
            [(f, p, j, NOW.strftime(stamp)) for f, p, j in runs],
        )
        lite.executemany(
            f"INSERT INTO link_clicks ({CLICK_COLUMNS}) VALUES ({', '.join('?' * 13)})",  # noqa: S608
            map(fix, clicks),
        )
    lite.execute("ANALYZE")
    lite.close()


# The throwaway admin of the benchmark's own fresh database.
PAGE_PASSWORD = secrets.token_urlsafe(12)


async def _page_times(db: Database, url: str) -> dict[str, tuple[float, float]]:
    """Median and worst of 5 GETs of each filter's console page, signed in as an admin."""
    import re
    from urllib.parse import urlencode

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from base.clock import FakeClock
    from base.settings import Settings
    from console import add_console
    from console.passwords import hash_password
    from console.profile_form import filter_query
    from handlers.context import Services
    from storage.console import create_user

    async with db.transaction() as session:
        await create_user(session, name="bench", role="admin", password_hash=hash_password(PAGE_PASSWORD), now=NOW)
    root = web.Application()
    add_console(root, Services(db=db, settings=Settings(database_url=url), clock=FakeClock(NOW)))
    token = re.compile(r'name="csrf_token" value="([^"]+)"')
    async with TestClient(TestServer(root)) as client:
        login = await (await client.get("/console/login")).text()
        found = token.search(login)
        assert found is not None
        signed = await client.post(
            "/console/login",
            data={"csrf_token": found.group(1), "name": "bench", "password": PAGE_PASSWORD, "next": "/console/"},
        )
        assert signed.status == 200, "the bench user could not sign in"
        results = {}
        for name, spec in FILTERS.items():
            path = "/console/profiles?" + urlencode(filter_query(spec))
            times = []
            for _ in range(5):
                began = time.perf_counter()
                answer = await client.get(path)
                await answer.read()
                assert answer.status == 200, path
                times.append((time.perf_counter() - began) * 1000)
            results[name] = (statistics.median(times), max(times))
        return results


async def _measure(
    url: str, profiles: int, label: str, pages: dict[str, dict[str, tuple[float, float]]] | None = None
) -> dict[str, tuple[float, float, int]]:
    await upgrade_async(url)
    db = Database(url)
    try:
        started = time.perf_counter()
        await _fill(db, profiles)
        print(f"{label}: {profiles:,} profiles written in {time.perf_counter() - started:.1f} s", flush=True)
        results = {}
        for name, spec in FILTERS.items():
            times = []
            for _ in range(5):
                began = time.perf_counter()
                async with db.session() as session:
                    page = await list_profiles(session, spec, now=NOW)
                times.append((time.perf_counter() - began) * 1000)
            results[name] = (statistics.median(times), max(times), page.count)
        if pages is not None:
            pages[label] = await _page_times(db, url)
        return results
    finally:
        await db.dispose()


async def _fresh_pg(url: str, name: str) -> str:
    import asyncpg

    base = url.replace("postgresql+asyncpg://", "postgresql://")
    server, _, _name = base.rpartition("/")
    conn = await asyncpg.connect(f"{server}/postgres")
    try:
        if not name.replace("_", "").isalnum():
            raise SystemExit(f"--pg-database must be letters, digits and _, got {name!r}")
        # The name was just checked to be a plain identifier.
        await conn.execute(f"DROP DATABASE IF EXISTS {name}")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return url.rpartition("/")[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/scrm-bench-profiles"))
    parser.add_argument(
        "--pg-database", default="scrm_profile_list", help="the database to drop, create and fill (yours alone)"
    )
    parser.add_argument("--page", action="store_true", help="time each filter's whole console page too")
    args = parser.parse_args()
    pages: dict[str, dict[str, tuple[float, float]]] | None = {} if args.page else None
    args.workdir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict[str, tuple[float, float, int]]] = {}
    if args.backend in ("sqlite", "both"):
        path = args.workdir / "profiles.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        runs["SQLite"] = asyncio.run(_measure(f"sqlite+aiosqlite:///{path}", args.profiles, "SQLite", pages))
    if args.backend in ("postgres", "both"):
        url = asyncio.run(_fresh_pg(args.pg_url, args.pg_database))
        runs["PostgreSQL"] = asyncio.run(_measure(url, args.profiles, "PostgreSQL", pages))
    print(f"\nfirst page ({args.profiles:,} profiles), median / worst of 5, ms; goal < 300 ms")
    header = f"{'filter':<34}" + "".join(f"{name:>26}" for name in runs)
    print(header)
    worst = 0.0
    for name in FILTERS:
        cells = ""
        for results in runs.values():
            median, high, count = results[name]
            worst = max(worst, median)
            shown = f"{count:,}" if count <= COUNT_CAP else f"{COUNT_CAP:,}+"
            cells += f"{median:>9.0f} / {high:>5.0f} ({shown:>7})"
        print(f"{name:<34}{cells}")
    print(f"\nslowest median: {worst:.0f} ms: {'goal met' if worst < 300 else 'goal MISSED'}")
    if pages:
        print("\nthe whole console page (GET /console/profiles?<filter>), median / worst of 5, ms")
        print(f"{'filter':<34}" + "".join(f"{name:>26}" for name in pages))
        slowest = 0.0
        for name in FILTERS:
            slowest = max([slowest, *(timed[name][0] for timed in pages.values())])
            print(
                f"{name:<34}" + "".join(f"{timed[name][0]:>17.0f} / {timed[name][1]:>6.0f}" for timed in pages.values())
            )
        print(f"\nslowest page median: {slowest:.0f} ms: {'goal met' if slowest < 300 else 'goal MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
