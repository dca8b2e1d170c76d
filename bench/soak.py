"""A day in the life, on demand: `scrm demo` started as a user starts it, a population that follows through
channel QR codes, chats, binds phones and opts out, order files uploaded through the console, and 14 demo
days on the demo clock. At the end it checks what the journeys called for against the fake WeChat API's
record and prints the figures.

    python bench/soak.py                                   # SQLite, 1 process, 3,000 followers, 150,000 rows
    python bench/soak.py --pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres --workers 2
    python bench/soak.py --followers 200 --rows 2000       # about the short soak of the test suite

Everything goes through the product's own doors: signed plaintext callbacks to /wechat (built from the
protocol: sha1 of the sorted token, timestamp and nonce), the console's login form and multipart upload,
the sandbox page's clock control, /metrics. SMS codes are read where a demo user reads them: the log line
`sandbox SMS to 139****0001: code 123456`. The checks read the database and the fake API's journal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import random
import re
import secrets
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from base.clock import CHINA  # noqa: E402
from bench.import_orders import HEADERS, PRODUCTS  # noqa: E402
from bench.processes import ServerGroup, free_port, load_average  # noqa: E402
from bench.product import ProductDatabase, csrf_token, scrm_command  # noqa: E402
from bench.signed_requests import sha1_signature  # noqa: E402
from scrm.demo import DEMO_ACCOUNT  # noqa: E402
from storage.db import Database  # noqa: E402

TOKEN = DEMO_ACCOUNT["wechat_token"]
ORIGINAL_ID = "gh_sandbox000001"
SCENES = ("store_sh01", "store_bj02", "kol_anna", "expo_2026", "poster_metro")
CONSOLE_PAGES = ("/console/", "/console/imports", "/console/profiles", "/console/deliveries", "/console/journeys")
SMS_LINE = re.compile(r"sandbox SMS to (\d{3}\*{4}\d{4}): code (\d{6})")
DAY = 86_400.0
TICK_LINE = re.compile(r'scrm_scheduler_seconds_since_tick\{job="([^"]+)"\} ([0-9.e+-]+)')
# The 5-second jobs: how long they went without a tick is the stall a follower feels.
FREQUENT_JOBS = frozenset({"dispatch", "dispatch_tick", "process_domain_events", "domain_events"})
DUE_PUSHES = "SELECT count(*) FROM pushes WHERE status IN ('pending', 'claimed', 'sending') AND due_at <= :now"
ALL_PUSHES = "SELECT id, run_id, step_key, openid, status, reason, due_at, expires_at, template_version_id FROM pushes"
STUCK_RUNS = (
    "SELECT id, journey_name, step_id, resume_at FROM journey_runs WHERE state = 'active' AND resume_at < :cutoff"
)


@dataclass
class SoakConfig:
    followers: int = 3000
    rows: int = 150_000
    days: int = 14
    speed: float = 120.0
    workers: int = 1
    pg_url: str = ""
    bind_share: float = 0.45
    optout_share: float = 0.08
    consent_share: float = 0.7
    concurrency: int = 24
    # Half-day jumps: every time of day (quiet hours too) passes, in about three real seconds each.
    step_days: float = 0.5
    workdir: Path = field(default_factory=lambda: Path("bench/out/soak"))
    settle_seconds: float = 90.0


@dataclass
class Figures:
    """What was measured and what was found; `problems` empty means the soak passed."""

    callback_ms: list[float] = field(default_factory=list)
    console_ms: list[float] = field(default_factory=list)
    stall_samples: list[float] = field(default_factory=list)
    stalls_by_job: dict[str, float] = field(default_factory=dict)
    handler_failures: int = 0
    http_errors: Counter[str] = field(default_factory=Counter)
    bound: int = 0
    bind_attempts: int = 0
    bind_refused: Counter[str] = field(default_factory=Counter)
    opted_out: int = 0
    rows_imported: int = 0
    pushes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    fake_sends: int = 0
    duplicates: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    demo_days: float = 0.0
    real_seconds: float = 0.0

    def percentile(self, values: list[float], share: float) -> float:
        if not values:
            return 0.0
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def lines(self, config: SoakConfig) -> list[str]:
        backend = "PostgreSQL" if config.pg_url else "SQLite"
        stall = max(self.stall_samples, default=0.0)
        return [
            f"soak: {backend}, {config.workers} process(es), demo clock {config.speed:g}x, "
            f"{self.demo_days:.1f} demo days in {self.real_seconds:.0f} s, load {load_average()}",
            f"population: {config.followers} followers, {self.bind_attempts} binding attempts, {self.bound} bound, "
            f"{self.opted_out} opted out; rows imported {self.rows_imported}",
            f"bindings that got no SMS code, by answer: {dict(self.bind_refused.most_common(4))}",
            f"pushes called for: {sum(self.pushes.values())} by status {dict(sorted(self.pushes.items()))}",
            f"reasons of pushes not sent: {dict(self.reasons.most_common(12))}",
            f"fake WeChat API: {self.fake_sends} successful sends to the population",
            f"duplicates: {len(self.duplicates)} {self.duplicates[:5]}",
            f"stuck runs or overdue pushes: {len(self.stuck)} {self.stuck[:5]}",
            f"longest scheduler stall of the 5-second jobs (scrm_scheduler_seconds_since_tick, sampled): {stall:.1f} s;"
            f" every job: { {job: round(value, 1) for job, value in sorted(self.stalls_by_job.items())} }",
            f"handler failures in the demo's log (the follower got the polite fallback): {self.handler_failures}",
            f"callbacks: {len(self.callback_ms)}, p50 {self.percentile(self.callback_ms, 0.5):.1f} ms, "
            f"p99 {self.percentile(self.callback_ms, 0.99):.1f} ms, max {max(self.callback_ms, default=0):.0f} ms",
            f"console pages: {len(self.console_ms)}, p99 {self.percentile(self.console_ms, 0.99):.1f} ms, "
            f"max {max(self.console_ms, default=0):.0f} ms",
            f"HTTP errors: {dict(self.http_errors)}",
            *(f"note: {note}" for note in self.notes),
            *(f"PROBLEM: {problem}" for problem in self.problems),
            "soak: " + ("passed" if not self.problems else f"FAILED ({len(self.problems)} problems)"),
        ]


class DemoTime:
    """The demo's clock as the sandbox page reports it, computed locally from the same numbers."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def update(self, state: dict[str, Any]) -> None:
        self.state = state

    def seconds(self) -> float:
        if "anchor" not in self.state:  # a demo without a demo clock: real time
            return time.time()
        real = time.time()
        s = self.state
        offset = s["offset"] if real >= s["effective_at"] else s["previous_offset"]
        return float(real + (s["speed"] - 1) * (real - s["anchor"]) + offset)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.seconds(), UTC)


class SmsCodes:
    """Codes from the demo's log, as a demo user reads them in the terminal."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self._position = 0
        self._codes: dict[str, list[str]] = defaultdict(list)
        self._reading = threading.Lock()

    def _read(self) -> None:
        # Binds of several followers read at once, each in a worker thread: unlocked, two reads from the
        # same position both moved it on, and the bytes after it (a code among them) were never read.
        with self._reading:
            with self.log.open("rb") as handle:
                handle.seek(self._position)
                chunk = handle.read()
            complete = chunk.rfind(b"\n") + 1
            self._position += complete
            for match in SMS_LINE.finditer(chunk[:complete].decode("utf-8", "replace")):
                self._codes[match.group(1)].append(match.group(2))

    async def wait(self, masked: str, seen: int, patience: float = 30.0) -> str | None:
        """The first code for `masked` beyond the `seen` ones already used."""
        give_up = time.monotonic() + patience
        while time.monotonic() < give_up:
            await asyncio.to_thread(self._read)
            if len(self._codes[masked]) > seen:
                return self._codes[masked][seen]
            await asyncio.sleep(0.05)
        return None

    async def count(self, masked: str) -> int:
        """Codes for `masked` in the log so far (read up to now, so an old one is never taken as new)."""
        await asyncio.to_thread(self._read)
        return len(self._codes[masked])


@dataclass
class Follower:
    number: int
    openid: str
    phone: str
    scene: str
    consents: bool
    binds: bool
    opts_out: bool
    joins_day: int
    msg_id: int = 0
    following: bool = False
    bound: bool = False


def population(config: SoakConfig, rng: random.Random) -> list[Follower]:
    people = []
    join_days = max(1, min(config.days - 3, 5))
    for number in range(config.followers):
        # 139 + the number: the masked form (139****0001) is unique below 10,000 followers.
        phone = f"1{3 + number // 10_000 % 7}9{number:08d}"[-11:]
        people.append(
            Follower(
                number=number,
                openid=f"oSoak{secrets.token_hex(4)}{number:06d}",
                phone=phone,
                scene=SCENES[number % len(SCENES)],
                consents=rng.random() < config.consent_share,
                binds=rng.random() < config.bind_share,
                opts_out=rng.random() < config.optout_share,
                joins_day=number % join_days,
            )
        )
    return people


def mask(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}"


def cdata(value: str) -> str:
    return "<![CDATA[" + value + "]]>"


class Soak:
    def __init__(self, config: SoakConfig, base: str, log: Path, journal: Path, db_url: str) -> None:
        self.config = config
        self.base = base
        self.journal = journal
        self.db_url = db_url
        self.figures = Figures()
        self.clock = DemoTime()
        self.sms = SmsCodes(log)
        self.rng = random.Random(20261205)
        self.session: aiohttp.ClientSession | None = None
        self.console: aiohttp.ClientSession | None = None
        self.csrf = ""
        self.password = ""
        self.has_clock = True
        self._stop_sampling = asyncio.Event()
        self._bind_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.late_replies: Counter[str] = Counter()

    # --- HTTP ---------------------------------------------------------------------------------------------

    async def callback(self, person: Follower, fields: dict[str, str | int]) -> str:
        """One signed plaintext callback; returns the reply's Content (or "")."""
        assert self.session is not None
        create_time = int(self.clock.seconds())
        parts = [
            f"<ToUserName>{cdata(ORIGINAL_ID)}</ToUserName>",
            f"<FromUserName>{cdata(person.openid)}</FromUserName>",
            f"<CreateTime>{create_time}</CreateTime>",
        ]
        for name, value in fields.items():
            parts.append(f"<{name}>{value if isinstance(value, int) else cdata(value)}</{name}>")
        xml = "<xml>" + "".join(parts) + "</xml>"
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        params = {
            "signature": sha1_signature(TOKEN, timestamp, nonce),
            "timestamp": timestamp,
            "nonce": nonce,
            "openid": person.openid,
        }
        started = time.perf_counter()
        try:
            async with self.session.post(f"{self.base}/wechat", params=params, data=xml.encode()) as response:
                body = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            self.figures.http_errors[f"callback {type(error).__name__}"] += 1
            return ""
        self.figures.callback_ms.append((time.perf_counter() - started) * 1000)
        if status != 200:
            self.figures.http_errors[f"callback {status}"] += 1
            return ""
        if body.strip() in ("", "success"):
            # Every callback of the soak is answered: none inline means the reply goes through the API.
            self.late_replies[person.openid] += 1
        found = re.search(r"<Content><!\[CDATA\[(.*?)\]\]></Content>", body, re.S)
        return found.group(1) if found else ""

    async def text(self, person: Follower, content: str) -> str:
        person.msg_id += 1
        return await self.callback(
            person, {"MsgType": "text", "Content": content, "MsgId": person.number * 100_000 + person.msg_id}
        )

    async def follow(self, person: Follower) -> None:
        await self.callback(
            person,
            {
                "MsgType": "event",
                "Event": "subscribe",
                "EventKey": f"qrscene_{person.scene}",
                "Ticket": "gQ" + secrets.token_hex(8),
            },
        )
        person.following = True

    async def console_get(self, path: str) -> None:
        assert self.console is not None
        started = time.perf_counter()
        try:
            async with self.console.get(f"{self.base}{path}") as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            self.figures.http_errors[f"console {type(error).__name__}"] += 1
            return
        self.figures.console_ms.append((time.perf_counter() - started) * 1000)
        if status != 200:
            self.figures.http_errors[f"console {path} {status}"] += 1

    async def login(self, password: str) -> None:
        assert self.console is not None
        self.password = password
        async with self.console.get(f"{self.base}/console/login") as page:
            token = csrf_token(await page.text())
        form = {"csrf_token": token, "name": "admin", "password": password, "next": "/console/"}
        async with self.console.post(f"{self.base}/console/login", data=form) as answer:
            if answer.status != 200 or not str(answer.url).endswith("/console/"):
                raise RuntimeError(f"console login failed: HTTP {answer.status}")
            self.csrf = csrf_token(await answer.text())

    async def upload(self, path: Path) -> None:
        """The console's upload path, as a script uses it (multipart, CSRF header, JSON answer)."""
        assert self.console is not None
        form = aiohttp.FormData()
        form.add_field("platform", "tmall")
        form.add_field("file", path.open("rb"), filename=path.name, content_type="text/csv")
        headers = {"X-CSRF-Token": self.csrf, "Accept": "application/json"}
        async with self.console.post(f"{self.base}/console/imports", data=form, headers=headers) as answer:
            if answer.status != 202:
                self.figures.http_errors[f"upload {answer.status}"] += 1
                self.figures.problems.append(f"upload of {path.name} answered {answer.status}: {await answer.text()}")

    async def refresh_clock(self) -> None:
        assert self.session is not None
        async with self.session.get(f"{self.base}/sandbox/api/clock") as response:
            if response.status == 404:
                self.has_clock = False
                return
            self.clock.update(await response.json())

    async def advance(self, days: float) -> None:
        assert self.session is not None
        async with self.session.post(f"{self.base}/sandbox/api/clock/advance", json={"days": days}) as response:
            if response.status != 200:
                self.figures.problems.append(f"advancing the clock answered {response.status}")
                return
            self.clock.update({**self.clock.state, **(await response.json())})
        await asyncio.sleep(float(self.clock.state.get("takes_effect_in", 0)) + 0.2)

    # --- Behaviour ----------------------------------------------------------------------------------------

    async def join(self, person: Follower) -> None:
        await self.follow(person)
        await self.text(person, self.rng.choice(["你好", "有什么新品", "龙井多少钱"]))
        if person.consents:
            await self.text(person, "订阅")
            await self.text(person, "是")
        if person.binds:
            await self.bind(person)

    async def bind(self, person: Follower) -> None:
        """绑定 -> phone -> (an order question: ask for SMS instead) -> code from the log -> consent."""
        self.figures.bind_attempts += 1
        masked = mask(person.phone)
        async with self._bind_locks[masked]:
            await self.text(person, "绑定")
            seen = await self.sms.count(masked)
            answer = await self.text(person, person.phone)
            if "验证码已发送" not in answer:  # an order question, which a soak follower cannot answer
                answer = await self.text(person, "短信")
            if "验证码已发送" not in answer:
                self.figures.bind_refused[answer[:30]] += 1
                await self.text(person, "取消")
                return
            code = await self.sms.wait(masked, seen)
            if code is None:
                self.figures.problems.append(f"no SMS code for {masked} in the log")
                return
            answer = await self.text(person, code)
            if "是" in answer or "否" in answer or "营销" in answer or "优惠" in answer:
                answer = await self.text(person, "是" if person.consents else "否")
            if "绑定" in answer or "你将收到" in answer or "你只会收到" in answer:
                person.bound = True
                self.figures.bound += 1

    async def day_activity(self, day: int, people: list[Follower]) -> None:
        gate = asyncio.Semaphore(self.config.concurrency)

        async def act(person: Follower) -> None:
            async with gate:
                if not person.following and person.joins_day == day:
                    await self.join(person)
                elif person.following and self.rng.random() < 0.3:
                    # A returning follower: a message reopens the 48-hour window and wakes held pushes.
                    await self.text(person, self.rng.choice(["在吗", "优惠券怎么用", "谢谢"]))
                if person.following and person.opts_out and day == person.joins_day + 2:
                    await self.text(person, self.rng.choice(["TD", "退订"]))
                    self.figures.opted_out += 1

        await asyncio.gather(*(act(person) for person in people))

    async def sample(self) -> None:
        """Every second: the scheduler's seconds since tick from /metrics; every few, a console page."""
        assert self.session is not None
        turn = 0
        while not self._stop_sampling.is_set():
            turn += 1
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.session.get(f"{self.base}/metrics") as response:
                    if response.status == 200:
                        body = await response.text()
                        for line in body.splitlines():
                            found = TICK_LINE.match(line)
                            if found:
                                job, value = found.group(1), float(found.group(2))
                                stalls = self.figures.stalls_by_job
                                stalls[job] = max(stalls.get(job, 0.0), value)
                                if job in FREQUENT_JOBS:
                                    self.figures.stall_samples.append(value)
                    else:
                        self.figures.http_errors[f"metrics {response.status}"] += 1
            if turn % 2 == 0:
                await self.console_get(CONSOLE_PAGES[turn // 2 % len(CONSOLE_PAGES)])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_sampling.wait(), 1.0)

    # --- Orders -------------------------------------------------------------------------------------------

    def orders_file(self, path: Path, rows: int, people: list[Follower], seed: int) -> Path:
        """A Tmall export: the bound followers' phones among the buyers, dates in the demo's last week."""
        rng = random.Random(seed)
        now = self.clock.now().astimezone(CHINA)
        phones = [person.phone for person in people if person.binds]
        buyers = max(1, rows * 3 // 10)
        with path.open("w", encoding="gb18030", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADERS)
            for n in range(rows):
                buyer = rng.randrange(buyers)
                phone = phones[buyer % len(phones)] if phones and buyer % 5 == 0 else f"13{buyer % 10}{buyer:08d}"
                paid = f"{rng.randint(1990, 99900) / 100:.2f}"
                created = (now - timedelta(days=rng.random() * 6, minutes=rng.randint(5, 90))).strftime(
                    "%Y-%m-%d %H:%M:%S"
                )
                status = rng.choice(["交易成功", "交易成功", "交易成功", "卖家已发货，等待买家确认"])
                writer.writerow(
                    [
                        f'="{4100000000000000000 + seed * 10_000_000 + n}"', f"buyer{buyer}", paid, paid, paid, status,
                        "王先生", "浙江省 杭州市 西湖区 某路1号", "", phone, created, created,
                        rng.choice(PRODUCTS), "1", "官方旗舰店", "0.00", created if status == "交易成功" else "",
                        f"{paid}元",
                    ]
                )  # fmt: skip
        return path

    # --- The run ------------------------------------------------------------------------------------------

    async def run(self, password: str) -> Figures:
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as self.session,
            aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.CookieJar(unsafe=True)) as self.console,
        ):
            await self.refresh_clock()
            if not self.has_clock:
                self.figures.notes.append("this demo has no demo clock: real time, no jumps ahead")
            first = self.clock.seconds()
            await self.login(password)
            people = population(self.config, self.rng)
            sampler = asyncio.create_task(self.sample())
            uploads: list[Path] = []
            try:
                for day in range(self.config.days):
                    await self.day_activity(day, people)
                    if day == 2 or (day == 7 and self.config.rows >= 1000):
                        rows = self.config.rows if day == 2 else max(100, self.config.rows // 20)
                        path = self.orders_file(
                            self.config.workdir / f"ExportOrderList-day{day}.csv", rows, people, seed=day
                        )
                        uploads.append(path)
                        await self.upload(path)
                    if self.has_clock:
                        for _ in range(round(1 / self.config.step_days)):
                            await self.advance(self.config.step_days)
                            await asyncio.sleep(0.5)
                    else:
                        await asyncio.sleep(2)
                await self.settle()
            finally:
                self._stop_sampling.set()
                await sampler
            self.figures.demo_days = (self.clock.seconds() - first) / DAY
            self.figures.real_seconds = time.monotonic() - started
        await self.check(people)
        return self.figures

    async def settle(self) -> None:
        """Wait until imports are done and nothing due is left (or settle_seconds pass)."""
        database = Database(self.db_url)
        give_up = time.monotonic() + self.config.settle_seconds
        try:
            while time.monotonic() < give_up:
                now = self.clock.now()
                async with database.engine.connect() as conn:
                    running = (
                        await conn.execute(text("SELECT count(*) FROM import_runs WHERE state = 'running'"))
                    ).scalar()
                    due = (
                        await conn.execute(
                            text(DUE_PUSHES),
                            {"now": _db_time(now, database)},
                        )
                    ).scalar()
                    events = (
                        await conn.execute(text("SELECT count(*) FROM domain_events WHERE processed_at IS NULL"))
                    ).scalar()
                if not running and not due and not events:
                    return
                await asyncio.sleep(1)
            self.figures.notes.append(f"not settled after {self.config.settle_seconds:.0f} s")
        finally:
            await database.dispose()

    async def check(self, people: list[Follower]) -> None:
        figures = self.figures
        ours = {person.openid for person in people}
        database = Database(self.db_url)
        now = self.clock.now()
        slack = timedelta(hours=2)
        try:
            async with database.engine.connect() as conn:
                pushes = (await conn.execute(text(ALL_PUSHES))).all()
                sent_attempts = (
                    await conn.execute(
                        text("SELECT push_id, count(*) FROM push_attempts WHERE outcome = 'sent' GROUP BY push_id")
                    )
                ).all()
                stuck_runs = (
                    await conn.execute(
                        text(STUCK_RUNS),
                        {"cutoff": _db_time(now - slack, database)},
                    )
                ).all()
                unprocessed = (
                    await conn.execute(text("SELECT count(*) FROM domain_events WHERE processed_at IS NULL"))
                ).scalar()
                imported = (
                    await conn.execute(
                        text("SELECT coalesce(sum(rows_read), 0) FROM import_runs WHERE actor <> 'demo'")
                    )
                ).scalar()
                failed_imports = (
                    await conn.execute(text("SELECT count(*) FROM import_runs WHERE state <> 'completed'"))
                ).scalar()
        finally:
            await database.dispose()
        figures.rows_imported = int(imported or 0)
        if failed_imports:
            figures.notes.append(f"{failed_imports} import run(s) not done")
        if unprocessed:
            figures.problems.append(f"{unprocessed} domain events never processed")
        for push_id, count in sent_attempts:
            if count > 1:
                figures.duplicates.append(f"push {push_id} sent {count} times")
        per_step: Counter[tuple[Any, Any]] = Counter()
        sent_per_openid: Counter[str] = Counter()
        for row in pushes:
            push_id, run_id, step_key, openid, status, reason, due_at, expires_at, _template = row
            figures.pushes[status] += 1
            if status == "sent":
                sent_per_openid[openid] += 1
                if run_id is not None:
                    per_step[(run_id, step_key)] += 1
                continue
            due = _aware(due_at)
            if status in ("pending", "claimed", "sending") and due <= now - slack:
                figures.stuck.append(f"push {push_id} {status} due {due:%m-%d %H:%M}")
            elif status == "unknown":
                figures.problems.append(f"push {push_id} ended 'unknown' (interrupted send)")
            elif status == "pending" and due > now - slack:
                figures.reasons[reason or "not yet due"] += 1
            else:
                if not reason:
                    figures.problems.append(f"push {push_id} is {status} with no recorded reason")
                figures.reasons[f"{status}: {reason}"[:60]] += 1
        for (run_id, step_key), count in per_step.items():
            if count > 1:
                figures.duplicates.append(f"run {run_id} step {step_key} sent {count} times")
        for run_id, journey, step, resume_at in stuck_runs:
            figures.stuck.append(f"run {run_id} {journey}/{step} resume {_aware(resume_at):%m-%d %H:%M}")
        self.check_journal(ours, sent_per_openid)
        if figures.duplicates:
            figures.problems.append(f"{len(figures.duplicates)} duplicate sends")
        if figures.stuck:
            figures.problems.append(f"{len(figures.stuck)} stuck runs or overdue pushes")
        if figures.http_errors:
            figures.problems.append(f"HTTP errors {dict(figures.http_errors)}")
        if not figures.callback_ms:
            figures.problems.append("no callback was answered")

    def check_journal(self, ours: set[str], sent_per_openid: Counter[str]) -> None:
        figures = self.figures
        if not self.journal.exists():
            figures.notes.append("no fake WeChat journal: sends checked from the database only")
            return
        received: Counter[str] = Counter()
        for line in self.journal.read_text(encoding="utf-8").splitlines():
            call = json.loads(line)
            if call["errcode"] != 0 or call["api"] not in ("message/custom/send", "message/template/send"):
                continue
            for openid in call["recipients"]:
                if openid in ours:
                    received[openid] += 1
        figures.fake_sends = sum(received.values())
        # What each follower got = its pushes marked sent + its replies that missed the deadline.
        extra = missing = 0
        for openid in ours:
            expected = sent_per_openid[openid] + self.late_replies[openid]
            if received[openid] > expected:
                extra += received[openid] - expected
                figures.duplicates.append(f"{openid}: {received[openid]} sends, {expected} expected")
            elif received[openid] < sent_per_openid[openid]:
                missing += sent_per_openid[openid] - received[openid]
        if missing:
            figures.problems.append(f"{missing} pushes marked sent never reached the fake WeChat API")
        figures.notes.append(
            f"{sum(self.late_replies.values())} replies missed the reply deadline and went through the API"
        )


def _aware(value: Any) -> datetime:
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _db_time(moment: datetime, database: Database) -> Any:
    # SQLite keeps naive UTC text; PostgreSQL timestamptz.
    return moment.replace(tzinfo=None).isoformat(sep=" ") if not database.is_postgres else moment


def start_demo(config: SoakConfig, workdir: Path, db_url: str, port: int, group: ServerGroup) -> Path:
    journal = workdir / "fake-wechat.jsonl"
    command = [scrm_command(), "demo", "--port", str(port)]
    help_text = _demo_help()
    if "--speed" in help_text:
        command += ["--speed", f"{config.speed:g}"]
    if "--workers" in help_text:
        command += ["--workers", str(config.workers)]
    elif config.workers > 1:
        raise SystemExit("this scrm demo has no --workers")
    if "--fake-wechat-journal" in help_text:
        command += ["--fake-wechat-journal", str(journal)]
    env = {**_environ(), "SCRM_DATABASE_URL": db_url, "SCRM_LOG_LEVEL": "INFO"}
    group.spawn(command, env=env, cwd=workdir)
    group.wait_ready(port, "/readyz", timeout=180)
    return journal


def _demo_help() -> str:
    import subprocess

    return subprocess.run([scrm_command(), "demo", "--help"], capture_output=True, text=True, check=False).stdout


def _environ() -> dict[str, str]:
    import os

    return {key: value for key, value in os.environ.items() if not key.startswith(("SCRM_", "WECHAT_"))}


def run_soak(config: SoakConfig) -> Figures:
    """Start the demo, live the days, check, stop; the figures say whether it passed."""
    workdir = config.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("*"):
        if stale.is_file():
            stale.unlink()
    config.workdir = workdir
    database = ProductDatabase.create(workdir, config.pg_url, "soak")
    port = free_port()
    group = ServerGroup("scrm demo", workdir / "demo.log")
    try:
        journal = start_demo(config, workdir, database.url, port, group)
        password = (workdir / "scrm-demo-login.txt").read_text(encoding="utf-8").split("password ", 1)[1].strip()
        soak = Soak(config, f"http://127.0.0.1:{port}", group.log, journal, database.url)
        figures = asyncio.run(soak.run(password))
        logged = group.log.read_text(errors="replace")
        figures.handler_failures = logged.count("ERROR scrm.handlers: handler failed")
        if "Traceback" in logged:
            figures.notes.append(f"the demo's log has tracebacks: see {group.log}")
        return figures
    finally:
        group.stop()
        database.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--followers", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--speed", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pg-url", default="", help="a PostgreSQL server URL: the soak creates its own database")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "soak")
    parser.add_argument("--settle", type=float, default=180.0, help="seconds to wait for the backlog at the end")
    args = parser.parse_args()
    config = SoakConfig(
        followers=args.followers,
        rows=args.rows,
        days=args.days,
        speed=args.speed,
        workers=args.workers,
        pg_url=args.pg_url,
        workdir=args.workdir,
        settle_seconds=args.settle,
    )
    figures = run_soak(config)
    print("\n".join(figures.lines(config)), flush=True)
    return 1 if figures.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
