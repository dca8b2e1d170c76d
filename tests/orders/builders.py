"""Builders of export files with the quirks of the real ones (see /work/shared/ORDERS.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook

TMALL_HEADERS = [
    "订单编号",
    "买家会员名",
    "买家应付货款",
    "总金额",
    "买家实际支付金额",
    "订单状态",
    "收货人姓名",
    "收货地址 ",
    "联系电话 ",
    "联系手机",
    "订单创建时间",
    "订单付款时间 ",
    "宝贝标题 ",
    "宝贝总数量",
    "店铺名称",
    "退款金额",
    "确认收货时间",
    "打款商家金额",
]


def write_csv(path: Path, rows: Sequence[Sequence[str]], encoding: str = "utf-8", quote_all: bool = False) -> Path:
    """Write rows as CSV bytes in the given encoding (utf-8-sig adds the BOM)."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def tmall_row(
    order_no: str,
    phone: str,
    *,
    status: str = "交易成功",
    paid: str = "99.00",
    name: str = "张三",
    address: str = "浙江省 杭州市 西湖区 文三路1号",
    created: str = "2025-12-01 10:00:00",
    title: str = "玻尿酸面霜",
    refund: str = "0.00",
    landline: str = "",
) -> list[str]:
    """One Tmall order row; the order number carries the `="..."` Excel guard as real exports do."""
    return [
        f'="{order_no}"',
        "buyer_" + order_no[-4:],
        paid,
        paid,
        paid,
        status,
        name,
        address,
        landline,
        phone,
        created,
        created,
        title,
        "1",
        "旗舰店",
        refund,
        "" if status != "交易成功" else "2025-12-05 09:00:00",
        f"{paid}元",
    ]


def tmall_csv(path: Path, rows: Sequence[Sequence[str]], encoding: str = "gb18030") -> Path:
    """A classic Tmall ExportOrderList file: GBK family encoding, headers with trailing spaces."""
    return write_csv(path, [TMALL_HEADERS, *rows], encoding)


def jd_csv(path: Path) -> Path:
    """JD: every field quoted, GBK, one row per SKU with the order money repeated on each line."""
    headers = ["订单号", "商品ID", "商品名称", "订购数量", "下单时间", "京东价", "订单金额", "应付金额", "订单状态",
               "下单帐号", "客户姓名", "客户地址", "联系电话", "付款确认时间", "订单完成时间"]  # fmt: skip
    rows = [
        ["J1001", "SKU1", "洗面奶", "2", "2025-11-01 09:00:00", "50.00", "180.00", "160.00", "完成",
         "jd_u1", "王五", "广东省 深圳市 南山区", "13900139000", "2025-11-01 09:01:00", "2025-11-05 10:00:00"],
        ["J1001", "SKU2", "爽肤水", "1", "2025-11-01 09:00:00", "80.00", "180.00", "160.00", "完成",
         "jd_u1", "王五", "广东省 深圳市 南山区", "13900139000", "2025-11-01 09:01:00", "2025-11-05 10:00:00"],
        ["J1002", "SKU1", "洗面奶", "1", "2025-11-02 09:00:00", "50.00", "50.00", "50.00", "(删除)等待出库",
         "jd_u2", "赵六", "上海 上海市 浦东新区", "13700137000-5678", "2025-11-02 09:01:00", ""],
    ]  # fmt: skip
    return write_csv(path, [headers, *rows], "gb18030", quote_all=True)


def youzan_csv(path: Path) -> Path:
    """Youzan: UTF-8 with BOM, the 分销员 column twice."""
    headers = ["订单号", "订单状态", "订单创建时间", "买家付款时间", "交易成功时间", "订单实付金额",
               "全部商品名称", "收货人/提货人", "收货人手机号/提货人手机号", "买家手机号", "订单已退款金额",
               "分销员", "分销员"]  # fmt: skip
    rows = [
        ["E2025001", "交易成功", "2025-10-01 08:00:00", "2025-10-01 08:05:00", "2025-10-06 08:00:00", "¥1,299.00",
         "精华液;面膜", "钱七", "", "+86 137 0013 7000", "0.00", "小王", "小李"],
        ["E2025002", "已关闭", "2025-10-02 08:00:00", "", "", "0.00", "面膜", "钱七", "１３７００１３７０００", "",
         "-", "", ""],
    ]  # fmt: skip
    return write_csv(path, [headers, *rows], "utf-8-sig")


def pdd_csv(path: Path) -> Path:
    """Pinduoduo: a title line before the header, `-` for empty, a money note in brackets."""
    headers = ["商品", "订单号", "订单状态", "商品总价(元)", "用户实付金额(元)", "商品数量(件)", "收货人", "手机",
               "支付时间", "订单成交时间", "确认收货时间", "用户购买手机号", "售后状态"]  # fmt: skip
    rows = [
        ["拼多多订单导出 2025-12-01", *[""] * 12],
        headers,
        ["纸巾 10包", "251201-123456789", "已收货", "29.90", "25.90（系统计算中，该值仅供参考）", "1", "孙八",
         "13600136000.0", "2025-12-01 12:00:00", "2025-12-01 12:00:00", "2025-12-03 12:00:00", "-", "-"],
        ["纸巾 20包", "251201-123456790", "已发货", "49.90", "45.90", "2", "周九", "136****6001",
         "2025-12-01 13:00:00", "2025-12-01 13:00:00", "-", "1.36001E+10", "退款成功"],
    ]  # fmt: skip
    return write_csv(path, rows, "gb18030")


def douyin_csv(path: Path) -> Path:
    """Douyin: UTF-8 BOM, ids with a leading tab, one row per sub-order, `$$密文` receiver cells."""
    headers = ["主订单编号", "子订单编号", "选购商品", "商品数量", "商品金额", "订单提交时间", "支付完成时间",
               "订单完成时间", "订单状态", "售后状态", "订单应付金额", "收件人", "收件人手机号"]  # fmt: skip
    rows = [
        ["\t6920001", "\t6920001-1", "口红 01", "1", "199.00", "2025-12-10 20:00:00", "2025-12-10 20:01:00", "",
         "已发货", "-", "298.00", "$$密文", "$$密文"],
        ["\t6920001", "\t6920001-2", "眼影盘", "1", "99.00", "2025-12-10 20:00:00", "2025-12-10 20:01:00", "",
         "已发货", "-", "298.00", "$$密文", "$$密文"],
        ["\t6920002", "\t6920002-1", "口红 02", "1", "159.00", "2025-12-11 20:00:00", "2025-12-11 20:01:00",
         "2025-12-15 20:00:00", "已完成", "-", "159.00", "吴十", "13500135000"],
    ]  # fmt: skip
    return write_csv(path, [headers, *rows], "utf-8-sig")


def wechat_shop_rows() -> list[list[str]]:
    """WeChat Shop: one row per product line, order money repeated, refunds per line."""
    headers = ["订单号", "订单下单时间", "订单状态", "收件人姓名", "收件人手机", "商品总价", "订单实际支付金额",
               "支付时间", "商品名称", "商品数量", "商品已退款金额"]  # fmt: skip
    return [
        headers,
        ["W3001", "2025-12-20 10:00:00", "已完成", "郑一", "13300133000", "300.00", "280.00",
         "2025-12-20 10:01:00", "护手霜", "2", "10.00"],
        ["W3001", "2025-12-20 10:00:00", "已完成", "郑一", "13300133000", "300.00", "280.00",
         "2025-12-20 10:01:00", "润唇膏", "1", "5.00"],
    ]  # fmt: skip


def xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """A workbook with one sheet per entry, in order."""
    workbook = Workbook()
    first = True
    for title, rows in sheets.items():
        sheet = workbook.active if first else workbook.create_sheet()
        assert sheet is not None
        sheet.title = title
        first = False
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def qianniu_xlsx(path: Path) -> Path:
    """The 千牛 three-sheet workbook: orders, sales lines and shipping joined on the order number."""
    return xlsx(
        path,
        {
            "订单报表": [
                ["订单编号", "买家会员名", "订单状态", "订单创建时间", "订单付款时间"],
                ["4001", "qn_buyer", "交易成功", "2025-09-01 10:00:00", "2025-09-01 10:01:00"],
                ["4002", "qn_buyer2", "交易关闭", "2025-09-02 10:00:00", ""],
            ],
            "销售明细": [
                ["子订单编号", "主订单编号", "商品标题", "购买数量", "买家实付金额", "退款金额"],
                ["4001-1", "4001", "面霜", 1, 120.5, 0],
                ["4001-2", "4001", "眼霜", 2, 80, 0],
                ["4002-1", "4002", "面膜", 1, 30, 30],
            ],
            "发货报表": [
                ["订单编号", "收货人姓名", "联系手机", "收货地址"],
                ["4001", "冯二", 13200132000, "江苏省 南京市 鼓楼区"],
                ["4002", "陈三", "132****2001", "江苏省 苏州市"],
            ],
        },
    )
