"""Cells: Excel guards, money in fen, China time to UTC, statuses, cities."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orders.cells import CellError, city_from_address, clean_order_no, map_status, parse_china_time, parse_money


@pytest.mark.parametrize(
    ("cell", "fen"),
    [
        ("99", 9900),
        ("¥1,299.50元", 129950),
        ("￥12.3", 1230),
        ("499.00（系统计算中，该值仅供参考）", 49900),
        ('="12.50"', 1250),
        ("-", None),
        ("", None),
    ],
)
def test_money_in_fen(cell: str, fen: int | None) -> None:
    assert parse_money(cell) == fen


@pytest.mark.parametrize("cell", ["abc", "1e5", "12.3.4"])
def test_unreadable_money_is_refused(cell: str) -> None:
    with pytest.raises(CellError) as caught:
        parse_money(cell, "买家实际支付金额")
    assert caught.value.reason == "bad_money"
    assert "买家实际支付金额" in str(caught.value)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2024-01-05 12:34:56", datetime(2024, 1, 5, 4, 34, 56, tzinfo=UTC)),
        ("2024/1/5 12:34", datetime(2024, 1, 5, 4, 34, tzinfo=UTC)),
        ("\t2024-01-05", datetime(2024, 1, 4, 16, 0, tzinfo=UTC)),
        ("20240105123456", datetime(2024, 1, 5, 4, 34, 56, tzinfo=UTC)),
        ("-", None),
    ],
)
def test_china_time_to_utc(cell: str, expected: datetime | None) -> None:
    assert parse_china_time(cell) == expected


def test_impossible_date_is_refused() -> None:
    with pytest.raises(CellError, match="not a real date"):
        parse_china_time("2024-02-30 10:00:00")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("等待买家付款", "pending"),
        ("买家已付款，等待卖家发货", "paid"),
        ("买家已付款,等待卖家发货", "paid"),
        ("卖家已发货，等待买家确认", "shipped"),
        ("交易成功", "completed"),
        ("交易关闭", "closed"),
        ("完成", "completed"),
        ("等待出库", "paid"),
        ("(删除)等待出库", "paid"),
        ("交易完成", "completed"),
        ("已关闭", "closed"),
        ("已收货", "completed"),
        ("已发货", "shipped"),
        ("已完成", "completed"),
        ("退款成功", "refunded"),
    ],
)
def test_statuses_map_to_the_canonical_set_keeping_the_text(text: str, status: str) -> None:
    assert map_status(text) == (status, text)


def test_unknown_status_is_refused_not_guessed() -> None:
    with pytest.raises(CellError) as caught:
        map_status("火星状态")
    assert caught.value.reason == "unknown_status"


def test_order_numbers_lose_guards_but_scientific_notation_is_refused() -> None:
    assert clean_order_no('="3712345678901234567"') == "3712345678901234567"
    assert clean_order_no("\t6920001") == "6920001"
    assert clean_order_no("12345.0") == "12345"
    with pytest.raises(CellError) as caught:
        clean_order_no("3.71234E+18")
    assert caught.value.reason == "order_no_sci_notation"


@pytest.mark.parametrize(
    ("address", "city"),
    [
        ("浙江省 杭州市 西湖区 文三路1号", "杭州市"),
        ("北京 北京市 朝阳区", "北京市"),
        ("广东省深圳市南山区科技园", "深圳市"),
        ("$$密文", None),
    ],
)
def test_city_from_address(address: str, city: str | None) -> None:
    assert city_from_address(address) == city
