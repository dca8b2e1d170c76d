"""Bad input: one clear error naming what is wrong, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from orders.errors import ImportInputError
from orders.mapping import load_mapping
from storage.db import Database
from tests.orders import builders
from tests.orders.helpers import count, run_import

pytestmark = pytest.mark.storage


async def _assert_nothing_written(db: Database) -> None:
    for table in ("orders", "profiles", "import_runs", "import_rejects", "domain_events"):
        assert await count(db, table) == 0, table


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\xef\xbb\xbf\r\n  \r\n", "is empty"),
        (bytes(range(256)) * 40, "binary data|neither UTF-8"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, r"old Excel \.xls file or a password-protected"),
        (b"PK\x03\x04 not really a zip", "not a readable XLSX"),
        ("名字,年龄\n张三,3\n".encode(), "no header row with known order columns"),
    ],
)
async def test_unusable_files(db: Database, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    with pytest.raises(ImportInputError, match=message):
        await run_import(db, path)
    await _assert_nothing_written(db)


async def test_missing_file(db: Database, tmp_path: Path) -> None:
    with pytest.raises(ImportInputError, match="does not exist"):
        await run_import(db, tmp_path / "nope.csv")


async def test_forced_platform_whose_columns_are_missing(db: Database, tmp_path: Path) -> None:
    path = builders.tmall_csv(tmp_path / "tmall.csv", [builders.tmall_row("1", "13800138000")])
    with pytest.raises(ImportInputError, match="column 主订单编号 required by the douyin preset is missing"):
        await run_import(db, path, platform="douyin")
    await _assert_nothing_written(db)


async def test_unrecognised_export_in_auto_mode(db: Database, tmp_path: Path) -> None:
    path = builders.write_csv(tmp_path / "x.csv", [["订单号", "订单状态", "其他"], ["1", "完成", "x"]])
    with pytest.raises(ImportInputError, match="no header row with known order columns"):
        await run_import(db, path)
    await _assert_nothing_written(db)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[columns]\norder_no = "No"\nshoe_size = "Size"\n', "unknown field.*shoe_size"),
        ('[columns]\npaid = "Paid"\n', "must map order_no"),
        ("colums = 1\n", "unknown setting.*colums"),
        ("[columns\n", "not valid TOML"),
        ('platform = "tmall"\n[columns]\norder_no = "No"\n', "has a built-in preset"),
    ],
)
async def test_bad_mapping_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportInputError, match=message):
        load_mapping(path)


async def test_one_bad_file_among_several_writes_nothing(db: Database, tmp_path: Path) -> None:
    from base.clock import FakeClock
    from base.settings import Settings
    from orders.importer import import_files

    good = builders.tmall_csv(tmp_path / "good.csv", [builders.tmall_row("1", "13800138000")])
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ImportInputError, match="empty.csv is empty"):
        await import_files(db, Settings(), [good, empty], clock=FakeClock())
    await _assert_nothing_written(db)
