"""With SCRM_DATA_KEY set, no buyer's phone is readable anywhere an import writes.

Files of every platform are imported (a real run, a dry run, a line-level file whose open orders are
spilled, rows rejected into a CSV file); then every text, JSON and binary column of every table, the
SQLite database's own files, the scratch databases and the rejects file are searched for each phone in
its common forms. Lookup by phone, the data export and erasure still work.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import LargeBinary, select, text
from sqlmodel import SQLModel

import orders.dryrun
import orders.rollup
import storage.models  # noqa: F401  (every table)
from base.clock import FakeClock
from base.settings import Settings
from base.vault import PhoneVault
from console.queries.profiles import find_by_phone
from identity.erase import erase_subject
from identity.export import export_subject
from identity.subjects import find_subject
from orders.importer import ImportOptions, import_file
from orders.records import RejectedRow
from orders.report import FileReport, RejectsWriter
from storage.db import Database
from storage.formats import json_text, unpack_cells
from storage.personal_data import searchable_columns
from storage.scratch import scratch_database
from tests.orders import builders

pytestmark = pytest.mark.storage

KEY = bytes(range(1, 33))
# Every buyer's mobile in the files below (the JD relay number's host included).
PHONES = [
    "13800138000", "13900139000", "13700137000", "13600136000", "13500135000", "13300133000", "13200132000",
    "13800138077",
]  # fmt: skip


def _forms(phone: str) -> list[str]:
    """E.164, 11 digits, and grouped 3-4-4 with spaces or dashes."""
    groups = (phone[:3], phone[3:7], phone[7:])
    return ["+86" + phone, phone, " ".join(groups), "-".join(groups)]


def _found_in(text: str) -> list[str]:
    return [form for phone in PHONES for form in _forms(phone) if form in text]


def _files(tmp_path: Path) -> list[Path]:
    tmall = [
        builders.tmall_row("1001", "13800138000", created="2026-01-01 10:00:00"),
        builders.tmall_row("1002", "+86 138 0013 8000", created="2026-01-02 10:00:00", landline="0571-88886666"),
        builders.tmall_row("1003", "13800138077-1234", name="赵五", address="北京 北京市 朝阳区 某路2号"),
        # Rejected (no such date): its phone goes to the rejects table and file, masked.
        builders.tmall_row("1004", "138-0013-8077", created="2025-13-45 10:00:00"),
    ]
    return [
        builders.tmall_csv(tmp_path / "in" / "tmall.csv", tmall),
        builders.jd_csv(tmp_path / "in" / "jd.csv"),
        builders.youzan_csv(tmp_path / "in" / "youzan.csv"),
        builders.pdd_csv(tmp_path / "in" / "pdd.csv"),
        builders.douyin_csv(tmp_path / "in" / "douyin.csv"),
        builders.write_csv(tmp_path / "in" / "shop.csv", builders.wechat_shop_rows()),
        builders.qianniu_xlsx(tmp_path / "in" / "qianniu.xlsx"),
    ]


async def _import_everything(db: Database, settings: Settings, tmp_path: Path, scratch: Path) -> Path:
    """Every file, dry run then real; the rejects as the CLI writes them. Returns the rejects file."""
    (tmp_path / "in").mkdir()
    rejects = RejectsWriter(scratch / "rejects.csv")

    def on_rejects(report: FileReport, headers: list[str], rows: list[RejectedRow]) -> None:
        rejects.write(report.file_name, headers, rows)

    try:
        for path in _files(tmp_path):
            for dry_run in (True, False):
                await import_file(
                    db, settings, path, clock=FakeClock(), options=ImportOptions(dry_run=dry_run),
                    on_rejects=None if dry_run else on_rejects,
                )  # fmt: skip
    finally:
        rejects.close()
    assert rejects.written == 1
    return scratch / "rejects.csv"


def _kept_scratch(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scratch databases in named files that stay, so the test can read what was written to them, and
    one open order in memory at a time, so a line-level file spills."""
    numbers = iter(range(1_000))

    def kept(*tables: str) -> sqlite3.Connection:
        connection = scratch_database(*tables)
        connection.close()
        named = sqlite3.connect(folder / f"scratch{next(numbers)}.db", isolation_level=None, check_same_thread=False)
        for table in tables:
            named.execute(table)
        return named

    monkeypatch.setattr(orders.dryrun, "scratch_database", kept)
    monkeypatch.setattr(orders.rollup, "scratch_database", kept)
    monkeypatch.setattr(orders.rollup, "OPEN_IN_MEMORY", 1)


async def _column_texts(db: Database) -> Iterator[tuple[str, str, str]]:
    texts = []
    async with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            columns = [*searchable_columns(table), *(c for c in table.columns if isinstance(c.type, LargeBinary))]
            for column in columns:
                for (value,) in await conn.execute(select(column)):
                    if value is not None:
                        shown = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                        texts.append((table.name, column.name, shown))
    return iter(texts)


async def test_no_phone_is_readable_anywhere_an_import_writes(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    _kept_scratch(scratch, monkeypatch)
    settings = Settings(data_key=KEY)
    rejects_file = await _import_everything(db, settings, tmp_path, scratch)

    leaks = sorted({(table, column) for table, column, value in await _column_texts(db) if _found_in(value)})
    assert leaks == []
    async with db.engine.connect() as conn:
        orders = (await conn.execute(text("SELECT COUNT(*) FROM orders WHERE cells IS NOT NULL"))).scalar_one()
    assert orders >= 10
    assert [path for path in scratch.glob("scratch*.db") if path.stat().st_size]  # spilled and dry runs
    written = [*scratch.iterdir()]
    if not db.is_postgres:
        database = Path(str(db.engine.url.database))
        written += [path for path in database.parent.glob(database.name + "*")]
    for path in written:
        assert _found_in(path.read_bytes().decode("utf-8", "replace")) == [], path.name
    rejected = rejects_file.read_text(encoding="utf-8-sig")
    assert "138-****-8077" in rejected and "文三路" not in rejected  # its address masked too
    assert _found_in(caplog.text) == []

    vault = PhoneVault(KEY)
    async with db.session() as session:
        (profile,) = await find_by_phone(session, vault, "13800138000")
        subject = await find_subject(session, vault, "13800138000")
        document = await export_subject(session, subject, now=FakeClock().now(), data_key=KEY)
    assert profile.id == subject.profile_ids.pop()
    cells = [line for order in document["orders"] for line in order["raw"]]
    assert {line["联系手机"] for line in cells} == {"13800138000", "+86 138 0013 8000"}
    assert {line["收货地址"] for line in cells} == {"浙江省 杭州市 西湖区 文三路1号"}

    async with db.transaction() as session:
        subject = await find_subject(session, vault, "13800138000")
        await erase_subject(session, subject, actor="admin:dpo", now=FakeClock().now(), data_key=KEY)
    async with db.engine.connect() as conn:
        left = (
            await conn.execute(
                text(
                    "SELECT COUNT(*) FROM orders WHERE order_no IN ('1001', '1002') "
                    "AND (cells IS NOT NULL OR receiver_name IS NOT NULL)"
                )
            )
        ).scalar_one()
    assert left == 0


def test_a_weak_hint_keeps_its_shape_but_not_the_number() -> None:
    from orders.privacy import mask_digits

    assert mask_digits("13800138077-1234") == "138********-1234"
    assert mask_digits("+86 138 0013 8000") == "+86 1** **** 8000"
    assert mask_digits("0571-88886666") == "057*-****6666"
    assert re.fullmatch(r"[\d*-]+", mask_digits("13800138000")) is not None


async def test_orders_sealed_before_cells_were_packed_still_export(db: Database, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    path = builders.tmall_csv(tmp_path / "in" / "tmall.csv", [builders.tmall_row("1001", "13800138000")])
    await import_file(db, Settings(data_key=KEY), path, clock=FakeClock())
    vault = PhoneVault(KEY)
    async with db.engine.begin() as conn:
        (sealed,) = (await conn.execute(text("SELECT cells FROM orders WHERE order_no = '1001'"))).one()
        opened = vault.unseal_bytes(sealed)
        assert opened[:1] == b"\x01"  # packed, not JSON
        # As an import sealed them before: the JSON text of the same cells.
        as_json = json_text(unpack_cells(opened)).encode()
        await conn.execute(
            text("UPDATE orders SET cells = :cells WHERE order_no = '1001'"), {"cells": vault.seal_bytes(as_json)}
        )
    async with db.session() as session:
        subject = await find_subject(session, vault, "13800138000")
        document = await export_subject(session, subject, now=FakeClock().now(), data_key=KEY)
    ((line,),) = [order["raw"] for order in document["orders"]]
    assert line["联系手机"] == "13800138000" and line["订单编号"] == '="1001"'
