"""`scrm orders import`: exit codes, --json, --rejects, --dry-run, silence off a terminal."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from asyncpg.exceptions import UniqueViolationError

from base.settings import Settings
from scrm.cli import common
from scrm.cli.main import main
from storage.db import Database
from tests.orders import builders


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the CLI at a fresh SQLite database built from the models."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    async def create() -> None:
        db = Database(url)
        await db.create_all()
        await db.dispose()

    asyncio.run(create())

    def with_database(fn: Callable[[Database, Settings], Awaitable[int]], settings: Settings | None = None) -> int:
        async def run() -> int:
            db = Database(url)
            try:
                return await fn(db, Settings(database_url=url))
            finally:
                await db.dispose()

        return asyncio.run(run())

    monkeypatch.setattr(common, "with_database", with_database)
    yield url


def _count(url: str, table: str) -> int:
    async def query() -> int:
        from sqlalchemy import text

        db = Database(url)
        async with db.engine.connect() as conn:
            value = (await conn.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one()  # noqa: S608
        await db.dispose()
        return int(value)

    return asyncio.run(query())


def _file(tmp_path: Path) -> Path:
    return builders.tmall_csv(
        tmp_path / "orders.csv",
        [builders.tmall_row("1", "13800138000"), builders.tmall_row("2", "138****8000", paid="abc")],
    )


def test_json_report_is_the_only_stdout(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["orders", "import", str(_file(tmp_path)), "--json"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    assert document["total"]["orders_created"] == 1
    assert document["files"][0]["rejects_by_reason"] == {"bad_money": 1}
    assert document["files"][0]["platform"] == "tmall"
    assert err == ""  # no progress bar when stderr is not a terminal


def test_rejects_csv_has_line_reason_and_original_cells(cli_db: str, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    assert main(["orders", "import", str(_file(tmp_path)), "--rejects", str(rejects)]) == 0
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 1
    assert (table[0]["line"], table[0]["reason"], table[0]["买家实际支付金额"]) == ("3", "bad_money", "abc")
    assert table[0]["联系手机"] == "138****8000"


def test_dry_run_writes_nothing(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["orders", "import", str(_file(tmp_path)), "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out
    assert _count(cli_db, "orders") == _count(cli_db, "import_runs") == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--platform", "jd"], "订单号 required by the jd preset"),
        (["--platform", "generic"], "needs --mapping"),
        (["--rejects", "/nonexistent/dir/r.csv"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["orders", "import", str(_file(tmp_path)), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert _count(cli_db, "orders") == 0


def test_empty_file_and_bad_mapping_exit_2(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert main(["orders", "import", str(empty)]) == 2
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\norder_no = "No"\ncolour = "C"\n', encoding="utf-8")
    assert main(["orders", "import", str(_file(tmp_path)), "--mapping", str(mapping)]) == 2
    err = capsys.readouterr().err
    assert "empty.csv is empty" in err and "unknown field(s) colour" in err


def test_text_report_and_runs_listing(cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["orders", "import", str(_file(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "orders created" in out and "bad_money" in out
    assert main(["orders", "runs", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert runs[0]["file_name"] == "orders.csv" and runs[0]["state"] == "completed"


def test_progress_bar_on_a_terminal() -> None:
    import io

    from orders.progress import TerminalProgress

    stream = io.StringIO()
    bar = TerminalProgress("importing", stream, force=True)
    bar(1000, 50, 100)
    bar(2000, 100, 100)
    bar.done()
    text = stream.getvalue()
    assert "100%" in text and "2,000 rows" in text and "rows/s" in text
    assert TerminalProgress("x", io.StringIO()).enabled is False


def test_a_write_the_database_refuses_is_one_line_not_a_traceback(
    cli_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def refused(*_args: object, **_kwargs: object) -> None:
        # What a bulk COPY raises: the driver's own error, not SQLAlchemy's.
        raise UniqueViolationError('duplicate key value violates unique constraint "uq_orders_platform_order_no"')

    monkeypatch.setattr("scrm.cli.orders.import_files", refused)
    path = builders.tmall_csv(tmp_path / "t.csv", [builders.tmall_row("1", "13800138000")])
    assert main(["orders", "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scrm: cannot use the database: duplicate key value") and "Traceback" not in err
