"""Each platform's export, with its quirks, imports into the right orders and profiles."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from orders.errors import ImportInputError
from storage.db import Database
from tests.orders import builders
from tests.orders.helpers import exported_cells, orders_by_no, rows, run_import

pytestmark = pytest.mark.storage


async def test_tmall_gbk_with_guards_and_trailing_space_headers(db: Database, tmp_path: Path) -> None:
    path = builders.tmall_csv(
        tmp_path / "ExportOrderList202512011200.csv",
        [
            builders.tmall_row("3712345678901", "'13800138000", paid="1,299.00"),
            builders.tmall_row("3712345678902", "138****8001", status="买家已付款，等待卖家发货", name="李四"),
        ],
    )
    report = await run_import(db, path)
    assert (report.platform, report.preset) == ("tmall", "tmall")
    assert (report.orders_created, report.profiles_created, report.rejected) == (2, 1, 0)
    orders = await orders_by_no(db)
    first = orders["3712345678901"]
    assert (first["status"], first["status_text"], first["paid_fen"]) == ("completed", "交易成功", 129900)
    assert first["ordered_at"] == datetime(2025, 12, 1, 2, 0, tzinfo=UTC)
    assert first["receiver_city"] == "杭州市"
    assert first["profile_id"] is not None
    masked = orders["3712345678902"]
    assert masked["profile_id"] is None
    assert (masked["hint_kind"], masked["hint_last4"], masked["receiver_name"]) == ("masked", "8001", "李四")


async def test_taobao_can_be_forced_on_the_same_format(db: Database, tmp_path: Path) -> None:
    path = builders.tmall_csv(tmp_path / "taobao.csv", [builders.tmall_row("100", "13800138000")])
    report = await run_import(db, path, platform="taobao")
    assert report.platform == "taobao"
    assert (await rows(db, "SELECT platform FROM orders"))[0]["platform"] == "taobao"


async def test_jd_sku_lines_roll_up_without_repeating_order_money(db: Database, tmp_path: Path) -> None:
    report = await run_import(db, builders.jd_csv(tmp_path / "jd.csv"))
    assert report.platform == "jd"
    assert (report.rows_read, report.orders_created) == (3, 2)
    orders = await orders_by_no(db)
    rolled = orders["J1001"]
    assert (rolled["total_fen"], rolled["paid_fen"], rolled["item_count"]) == (18000, 16000, 3)
    assert rolled["products"] == ["洗面奶", "爽肤水"]
    # The order keeps each of its item lines' cells, under the file's own column names.
    assert [line["商品名称"] for line in await exported_cells(db, "J1001")] == ["洗面奶", "爽肤水"]
    assert rolled["status"] == "completed"
    assert orders["J1002"]["hint_kind"] == "virtual"
    assert orders["J1002"]["profile_id"] is None
    assert orders["J1002"]["status_text"] == "(删除)等待出库"


async def test_youzan_duplicate_column_and_bom(db: Database, tmp_path: Path) -> None:
    report = await run_import(db, builders.youzan_csv(tmp_path / "youzan.csv"))
    assert report.platform == "youzan"
    orders = await orders_by_no(db)
    assert orders["E2025001"]["paid_fen"] == 129900
    (cells,) = await exported_cells(db, "E2025001")
    assert cells["分销员#2"] == "小李"
    # Both orders carry the same buyer written two ways: one profile.
    assert orders["E2025001"]["profile_id"] == orders["E2025002"]["profile_id"] is not None
    assert report.profiles_created == 1


async def test_pinduoduo_header_not_on_line_one(db: Database, tmp_path: Path) -> None:
    report = await run_import(db, builders.pdd_csv(tmp_path / "a1b2orders_export20251201.csv"))
    assert report.platform == "pdd"
    assert report.rejected == 0
    orders = await orders_by_no(db)
    delivered = orders["251201-123456789"]
    assert (delivered["paid_fen"], delivered["status"]) == (2590, "completed")
    assert delivered["profile_id"] is not None  # 13600136000.0 is float damage without lost digits
    refunded = orders["251201-123456790"]
    assert refunded["status"] == "refunded"
    assert (refunded["hint_kind"], refunded["profile_id"]) == ("masked", None)


async def test_douyin_tabs_ciphertext_and_sub_orders(db: Database, tmp_path: Path) -> None:
    report = await run_import(db, builders.douyin_csv(tmp_path / "douyin.csv"))
    assert report.platform == "douyin"
    orders = await orders_by_no(db)
    assert set(orders) == {"6920001", "6920002"}
    hidden = orders["6920001"]
    assert (hidden["total_fen"], hidden["paid_fen"], hidden["item_count"]) == (29800, 29800, 2)
    assert (hidden["hint_kind"], hidden["receiver_name"], hidden["profile_id"]) == ("ciphertext", None, None)
    assert orders["6920002"]["profile_id"] is not None
    assert report.hints_by_kind == {"ciphertext": 1}


async def test_wechat_shop_csv_and_xlsx_give_the_same_order(db: Database, tmp_path: Path) -> None:
    csv_path = builders.write_csv(tmp_path / "shop.csv", builders.wechat_shop_rows())
    xlsx_path = builders.xlsx(tmp_path / "shop.xlsx", {"订单": builders.wechat_shop_rows()})  # type: ignore[dict-item]
    first = await run_import(db, csv_path)
    assert first.platform == "wechat_shop"
    order = (await orders_by_no(db))["W3001"]
    assert (order["paid_fen"], order["refund_fen"], order["item_count"]) == (28000, 1500, 3)
    again = await run_import(db, xlsx_path)
    assert (again.orders_created, again.orders_updated, again.orders_unchanged) == (0, 0, 1)


async def test_qianniu_three_sheet_workbook_is_joined(db: Database, tmp_path: Path) -> None:
    report = await run_import(db, builders.qianniu_xlsx(tmp_path / "qianniu.xlsx"))
    assert report.platform == "tmall"
    orders = await orders_by_no(db)
    joined = orders["4001"]
    assert joined["paid_fen"] == 20050
    assert joined["item_count"] == 3
    assert joined["receiver_name"] == "冯二"
    assert joined["receiver_city"] == "南京市"
    assert joined["profile_id"] is not None
    closed = orders["4002"]
    assert closed["status"] == "refunded"  # closed with the whole payment refunded
    assert closed["hint_kind"] == "masked"


async def test_generic_mapping_file(db: Database, tmp_path: Path) -> None:
    mapping = tmp_path / "myshop.toml"
    mapping.write_text(
        'platform = "myshop"\n[columns]\norder_no = "Order ID"\npaid = "Paid"\nstatus = "State"\n'
        'phone = ["Mobile", "Tel"]\nordered_at = "Created"\nproduct = "Item"\n',
        encoding="utf-8",
    )
    path = builders.write_csv(
        tmp_path / "shop.csv",
        [["Order ID", "Paid", "State", "Mobile", "Tel", "Created", "Item"],
         ["A-1", "10.00", "已完成", "", "13800138000", "2025-12-01 10:00", "Tea"]],
    )  # fmt: skip
    from orders.mapping import load_mapping

    report = await run_import(db, path, platform="generic", mapping=load_mapping(mapping))
    assert (report.platform, report.orders_created, report.profiles_created) == ("myshop", 1, 1)
    order = (await orders_by_no(db))["A-1"]
    assert (order["platform"], order["paid_fen"], order["first_product"]) == ("myshop", 1000, "Tea")


async def test_yaml_mapping_is_read_too(tmp_path: Path) -> None:
    from orders.mapping import load_mapping

    path = tmp_path / "m.yaml"
    path.write_text("grain: line\ncolumns:\n  order_no: 'No'\n  product: Item\n", encoding="utf-8")
    preset = load_mapping(path)
    assert (preset.platform, preset.grain, preset.columns["order_no"]) == ("generic", "line", ("No",))
    path.write_text("columns:\n  order_no: No\n", encoding="utf-8")
    with pytest.raises(ImportInputError, match="order_no must be a column name .*quotes"):
        load_mapping(path)


async def test_utf16_csv_is_read(db: Database, tmp_path: Path) -> None:
    path = builders.tmall_csv(tmp_path / "u16.csv", [builders.tmall_row("900", "13800138000")], encoding="utf-16")
    report = await run_import(db, path)
    assert report.orders_created == 1
