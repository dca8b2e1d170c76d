"""Fast paths of the row reader agree with the general code they short-cut, on the awkward inputs too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from base import phones
from orders import cells
from orders.cells import CellError, city_from_address, clean_order_no, parse_china_time, parse_china_time_general
from orders.presets import PRESETS
from orders.records import OrderReader
from orders.sources import Table
from storage.formats import cells_by_header


@pytest.fixture(autouse=True)
def _cold_caches() -> Iterator[None]:
    """Every case starts and ends with empty caches, so a cached answer cannot mask a wrong one."""
    caches = (cells._time_cache, cells._money_cache, cells._status_cache, cells._city_cache)
    for cache in caches:
        cache.clear()
    phones.clear_caches()
    yield
    for cache in caches:
        cache.clear()
    phones.clear_caches()


def _outcome(parse: object, cell: str) -> object:
    assert callable(parse)
    try:
        return parse(cell, "付款时间")
    except CellError as error:
        return ("error", error.reason, str(error))


@pytest.mark.parametrize(
    "cell",
    [
        "2024-01-05 12:34:56",
        "2024-01-05 00:00:00",  # the previous UTC day
        "2024-03-01 07:59:59",  # across a month end in UTC
        "2024-02-29 12:00:00",
        "2023-02-29 12:00:00",  # not a real date
        "2024-13-01 12:00:00",
        "2024-01-05 24:00:00",
        "0000-00-00 00:00:00",  # "no time" as some exports write it
        "0001-01-01 03:00:00",  # no UTC instant in range: refused, not a crash
        "2024-1-5 1:2:3",  # single-digit parts
        "2024-01-5 12:34:56",
        "2024/01/05 12:34:56",  # '/'-separated
        "2024/1/5 12:34",
        "2024.01.05 12:34:56",
        "2024-01-05T12:34:56",
        "2024-01-05 12:34:56.789",
        "20240105123456",
        '="2024-01-05 12:34:56"',
        " 2024-01-05 12:34:56 ",
        "2024-01x05 12:34:56",  # right length, wrong separator
        "2024-01-05 12-34-56",
        "2024- 1-05 12:34:56",  # int() would accept " 1"; the date patterns do not
        "2024-+1-05 12:34:56",
        "2_24-01-05 12:34:56",  # int() would accept "2_24"
        "２０２４-０１-０５ １２:３４:５６",  # full-width digits
        "-",
        "",
    ],
)
def test_time_fast_path_agrees_with_the_general_parser(cell: str) -> None:
    expected = _outcome(parse_china_time_general, cell)
    assert _outcome(parse_china_time, cell) == expected
    assert _outcome(parse_china_time, cell) == expected  # and again, from the cache


def test_times_are_utc_eight_hours_behind_china() -> None:
    value = parse_china_time("2024-01-01 03:00:00")
    assert value is not None
    assert value.isoformat() == "2023-12-31T19:00:00+00:00"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("3700000000000000001", "3700000000000000001"),
        ('="3700000000000000001"', "3700000000000000001"),
        ("'0012", "0012"),
        ("3700000000000000001.0", "3700000000000000001"),
        ("1" * 64, "1" * 64),
        ("E2025-001_a", "E2025-001_a"),
    ],
)
def test_order_numbers_read(cell: str, expected: str) -> None:
    assert clean_order_no(cell) == expected


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("１２３４", "bad_order_no"),  # full-width digits are digits to Python, not to our key
        ("١٢٣", "bad_order_no"),
        ("1" * 65, "bad_order_no"),
        ("3.7E+18", "order_no_sci_notation"),
        ("  ", "missing_order_no"),
    ],
)
def test_order_numbers_the_digit_fast_path_must_not_accept(cell: str, reason: str) -> None:
    with pytest.raises(CellError) as caught:
        clean_order_no(cell)
    assert caught.value.reason == reason


@pytest.mark.parametrize("cell", ["13800138000", " 13800138000 ", "138****8000", "13800138000-1234", "1.38001E+10", ""])
def test_phone_verdicts_are_the_same_from_the_cache(cell: str) -> None:
    first = phones.classify_phone(cell)
    assert phones.classify_phone(cell) == first
    phones._cache.clear()
    assert phones._classify_slow(cell.strip()) == first


def test_city_is_the_same_from_the_cache() -> None:
    address = "浙江省 杭州市 西湖区 某路1号"
    assert city_from_address(address) == "杭州市"
    assert city_from_address(address) == "杭州市"
    assert city_from_address("") is None


def _reader(headers: list[str], rows: list[list[str]]) -> OrderReader:
    table = Table("t.csv", headers, 1, iter(enumerate(rows, start=2)), 0, lambda: 0)
    return OrderReader(table, PRESETS["tmall"])


_TMALL = ["订单编号", "订单状态", "买家实际支付金额", "订单创建时间", "订单付款时间 ", "联系手机", "收货地址 ", "备注"]


def test_raw_cells_keep_every_column_that_is_not_blank() -> None:
    row = ["1001", "交易成功", "99.00", "2024-01-05 12:34:56", "", "13800138000", "\u3000 ", " 送礼 "]
    record = _reader(_TMALL, [row]).read_row(2, row)
    assert record.raw == [row]  # by position; the run keeps the header names once
    assert cells_by_header(record.raw, _TMALL) == [
        {
            "订单编号": "1001",
            "订单状态": "交易成功",
            "买家实际支付金额": "99.00",
            "订单创建时间": "2024-01-05 12:34:56",
            "联系手机": "13800138000",
            "备注": " 送礼 ",
        }
    ]
    assert record.paid_fen == 9900
    assert record.ordered_at == parse_china_time("2024-01-05 12:34:56")
    assert record.paid_at is None


def test_a_row_with_several_bad_cells_is_rejected_for_the_first() -> None:
    rows = [
        ["1001", "火星状态", "abc", "not a time", "", "", "", ""],
        ["1002", "交易成功", "abc", "nope", "", "", "", ""],
    ]
    batches = list(_reader(_TMALL, rows).batches(10))
    assert [reject.reason for batch in batches for reject in batch.rejects] == ["unknown_status", "bad_money"]
