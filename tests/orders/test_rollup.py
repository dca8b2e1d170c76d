"""Line-level files whose orders outnumber what stays in memory: spilled orders come back whole."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from base.phones import PhoneVerdict
from orders.records import OrderRecord
from orders.rollup import OpenOrders
from storage.db import Database
from tests.orders import builders
from tests.orders.helpers import orders_by_no, run_import

JD_HEADERS = ["订单号", "商品ID", "商品名称", "订购数量", "下单时间", "京东价", "订单金额", "应付金额", "订单状态",
              "下单帐号", "客户姓名", "客户地址", "联系电话", "付款确认时间", "订单完成时间"]  # fmt: skip


def test_spilled_orders_come_back_when_a_later_line_names_them() -> None:
    open_orders = OpenOrders(limit=2)
    for number in ("A", "B", "C", "D", "E"):
        open_orders.add(OrderRecord(order_no=number, line_no=1))
    assert len(open_orders) == 5
    again = open_orders.get("A")  # spilled long ago
    assert again is not None and again.order_no == "A"
    again.lines += 1
    assert open_orders.get("Z") is None
    drained = list(open_orders.drain())
    assert sorted(record.order_no for record in drained) == ["A", "B", "C", "D", "E"]
    assert next(record for record in drained if record.order_no == "A").lines == 1


def test_a_spilled_order_comes_back_equal_times_phone_and_lines_included() -> None:
    paid = datetime(2025, 11, 1, 1, 0, 0, 123456, tzinfo=UTC)
    record = OrderRecord(
        order_no="J9", line_no=3, total_fen=15000, products=["洗面奶"], ordered_at=paid, paid_at=paid,
        phone=PhoneVerdict("mobile", "+8613900139000", "", "9000"), receiver_name="王五",
        raw=[["J9", "SKU1"]], line_keys={"SKU1"}, lines=1,
    )  # fmt: skip
    open_orders = OpenOrders(limit=1)
    open_orders.add(record)
    open_orders.add(OrderRecord(order_no="J10", line_no=4))  # J9 is spilled
    back = open_orders.get("J9")
    assert back == record and back is not record
    assert back is not None and back.ordered_at is not None and back.ordered_at.tzinfo is UTC
    open_orders.close()


def _jd_line(order_no: str, sku: str, title: str, phone: str) -> list[str]:
    return [order_no, sku, title, "1", "2025-11-01 09:00:00", "50.00", "100.00", "100.00", "完成", "jd_u1", "王五",
            "广东省 深圳市 南山区", phone, "2025-11-01 09:01:00", "2025-11-05 10:00:00"]  # fmt: skip


@pytest.mark.parametrize("in_memory", [1, 1000])
async def test_an_orders_lines_far_apart_roll_up_into_one_order(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_memory: int
) -> None:
    monkeypatch.setattr("orders.rollup.OPEN_IN_MEMORY", in_memory)
    monkeypatch.setattr("orders.rollup.SPILL_AT_ONCE", 1)
    lines = [_jd_line(f"J{n}", "SKU1", "洗面奶", f"1390013900{n}") for n in range(6)]
    lines += [_jd_line(f"J{n}", "SKU2", "爽肤水", f"1390013900{n}") for n in (0, 3, 5)]  # second lines, far away
    path = builders.write_csv(tmp_path / "jd.csv", [JD_HEADERS, *lines], "gb18030", quote_all=True)
    report = await run_import(db, path, batch_size=2)
    assert (report.rows_read, report.orders_created) == (9, 6)
    stored = await orders_by_no(db)
    assert sorted(stored) == [f"J{n}" for n in range(6)]
    assert [stored[f"J{n}"]["products"] for n in (0, 1)] == [["洗面奶", "爽肤水"], ["洗面奶"]]
    assert {no: order["item_count"] for no, order in stored.items()} == {
        "J0": 2, "J1": 1, "J2": 1, "J3": 2, "J4": 1, "J5": 2
    }  # fmt: skip
