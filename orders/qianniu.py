"""The 千牛 (Qianniu) workbook: three sheets joined on the order number into Tmall order rows.

订单报表 holds one row per order, 销售明细 one row per sub-order (titles, quantities, paid and
refunded money), 发货报表 the receiver and phone. The join yields rows under Tmall's header names so
the Tmall preset reads them like a classic export.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orders.cells import CellError, clean_order_no, clean_text, parse_money
from orders.errors import ImportInputError
from orders.sources import Table, open_sheet

ORDERS_SHEET = "订单报表"
LINES_SHEET = "销售明细"
SHIPPING_SHEET = "发货报表"
SHEETS = (ORDERS_SHEET, LINES_SHEET, SHIPPING_SHEET)
_LINE_COLUMNS = ("子订单编号", "主订单编号", "商品标题", "购买数量", "买家实付金额", "退款金额")
_SHIPPING_COLUMNS = ("订单编号", "收货人姓名", "联系手机", "收货地址")
# Tmall columns the joined rows fill when the order sheet lacks them (or leaves them empty).
_JOINED = ("宝贝标题", "宝贝总数量", "买家实际支付金额", "退款金额", "收货人姓名", "联系手机", "收货地址")


def is_qianniu(sheet_names: list[str]) -> bool:
    """A workbook with at least the sales-detail sheet and one of the other two."""
    present = set(sheet_names)
    return LINES_SHEET in present and bool(present & {ORDERS_SHEET, SHIPPING_SHEET})


@dataclass
class _Lines:
    titles: list[str] = field(default_factory=list)
    quantity: int = 0
    paid_fen: int = 0
    refund_fen: int = 0


def _probe(names: tuple[str, ...]) -> Any:
    return lambda headers: sum(1 for name in names if name in headers)


def _rows_by_header(table: Table) -> Iterator[tuple[int, dict[str, str]]]:
    for line_no, cells in table.rows:
        yield line_no, dict(zip(table.headers, cells, strict=False))


def _fen(cell: str) -> int:
    try:
        return parse_money(cell) or 0
    except CellError:
        return 0  # the order sheet's own amount, if any, is checked by the Tmall preset


def _key(cell: str) -> str | None:
    try:
        return clean_order_no(cell)
    except CellError:
        return None


def _read_lines(table: Table) -> dict[str, _Lines]:
    lines: dict[str, _Lines] = {}
    seen_sub_orders: set[str] = set()
    for _line_no, row in _rows_by_header(table):
        order_no = _key(row.get("主订单编号", ""))
        if order_no is None:
            continue
        sub_order = clean_text(row.get("子订单编号", ""))
        if sub_order:
            if sub_order in seen_sub_orders:
                continue
            seen_sub_orders.add(sub_order)
        entry = lines.setdefault(order_no, _Lines())
        title = clean_text(row.get("商品标题", ""))
        if title:
            entry.titles.append(title)
        quantity = clean_text(row.get("购买数量", ""))
        entry.quantity += int(float(quantity)) if quantity.replace(".", "", 1).isdigit() else 0
        entry.paid_fen += _fen(row.get("买家实付金额", ""))
        entry.refund_fen += _fen(row.get("退款金额", ""))
    return lines


def _read_shipping(table: Table) -> dict[str, dict[str, str]]:
    shipping: dict[str, dict[str, str]] = {}
    for _line_no, row in _rows_by_header(table):
        order_no = _key(row.get("订单编号", ""))
        if order_no is not None and order_no not in shipping:
            shipping[order_no] = {name: row.get(name, "") for name in _SHIPPING_COLUMNS[1:]}
    return shipping


def _joined_values(lines: _Lines | None, shipping: dict[str, str] | None) -> dict[str, str]:
    values: dict[str, str] = {}
    if lines is not None:
        values["宝贝标题"] = "；".join(lines.titles)
        values["宝贝总数量"] = str(lines.quantity)
        values["买家实际支付金额"] = f"{lines.paid_fen / 100:.2f}"
        values["退款金额"] = f"{lines.refund_fen / 100:.2f}"
    if shipping is not None:
        values.update(shipping)
    return values


def open_qianniu(path: Path, workbook: Any, order_probe: Any) -> Table:
    """The joined order rows of a 千牛 workbook, as a Table under Tmall header names."""
    names = list(workbook.sheetnames)
    lines = _read_lines(open_sheet(path, workbook, workbook[LINES_SHEET], _probe(_LINE_COLUMNS)))
    shipping: dict[str, dict[str, str]] = {}
    if SHIPPING_SHEET in names:
        shipping = _read_shipping(open_sheet(path, workbook, workbook[SHIPPING_SHEET], _probe(_SHIPPING_COLUMNS)))
    if ORDERS_SHEET not in names:
        return _orders_from_lines(path, workbook, lines, shipping)
    main = open_sheet(path, workbook, workbook[ORDERS_SHEET], order_probe)
    headers = list(main.headers) + [name for name in _JOINED if name not in main.headers]
    positions = {name: index for index, name in enumerate(headers)}
    order_index = positions.get("订单编号")
    if order_index is None:
        raise ImportInputError(f"{path.name}: sheet {ORDERS_SHEET} has no 订单编号 column")

    def joined() -> Iterator[tuple[int, list[str]]]:
        for line_no, cells in main.rows:
            row = cells + [""] * (len(headers) - len(cells))
            order_no = _key(row[order_index])
            if order_no is not None:
                for name, value in _joined_values(lines.get(order_no), shipping.get(order_no)).items():
                    if not row[positions[name]].strip():
                        row[positions[name]] = value
            yield line_no, row

    return Table(
        name=f"{path.name} [{ORDERS_SHEET}+{LINES_SHEET}+{SHIPPING_SHEET}]",
        headers=headers,
        header_line=main.header_line,
        rows=joined(),
        size=main.size,
        position=main.position,
        encoding="xlsx",
        closers=main.closers,
    )


def _orders_from_lines(
    path: Path, workbook: Any, lines: dict[str, _Lines], shipping: dict[str, dict[str, str]]
) -> Table:
    headers = ["订单编号", *_JOINED]
    size = path.stat().st_size

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, (order_no, entry) in enumerate(lines.items(), start=2):
            values = _joined_values(entry, shipping.get(order_no))
            yield number, [order_no, *(values.get(name, "") for name in _JOINED)]

    return Table(
        name=f"{path.name} [{LINES_SHEET}+{SHIPPING_SHEET}]",
        headers=headers,
        header_line=1,
        rows=rows(),
        size=size,
        position=lambda: size,
        encoding="xlsx",
        closers=[workbook.close],
    )
