"""Column presets of each marketplace's seller export, and recognising a file's platform from its headers.

Columns are matched by their stripped header text, never by position: exports add, drop and reorder
columns between versions, and several Tmall names carry a trailing space.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

ORDER: Final = "order"
LINE: Final = "line"

# Every field a preset or a mapping file may fill.
FIELDS: Final = {
    "order_no": "order number (required)",
    "line_no": "sub-order or SKU id, for files with one row per item",
    "status": "order status text",
    "after_sale": "after-sales status text (a refund shows here on some platforms)",
    "total": "goods total of the order",
    "paid": "amount the buyer paid",
    "refund": "amount refunded",
    "line_price": "unit price of an item line",
    "line_amount": "amount of an item line",
    "quantity": "number of items",
    "product": "product title",
    "ordered_at": "order time (China time)",
    "paid_at": "payment time (China time)",
    "completed_at": "completion / receipt time (China time)",
    "receiver_name": "receiver name",
    "address": "receiver address (the city is taken from it)",
    "city": "receiver city",
    "phone": "phone columns, best first",
    "buyer": "buyer account or nickname",
    "shop": "shop name",
}
# Money fields that belong to one item line and are summed when lines roll up into an order.
LINE_MONEY: Final = frozenset({"line_amount", "refund_line"})


@dataclass(frozen=True)
class Preset:
    """How one export format names its columns."""

    name: str
    platform: str
    grain: str
    columns: Mapping[str, tuple[str, ...]]
    # Headers that, together, tell this format apart from the others.
    signature: tuple[str, ...] = ()
    # Fields summed across the lines of an order (the rest are order-level, repeated on every line).
    summed: frozenset[str] = field(default_factory=frozenset)

    def headers(self) -> set[str]:
        """Every header name this preset knows."""
        return {name for names in self.columns.values() for name in names}


def _preset(
    name: str,
    platform: str,
    grain: str,
    columns: dict[str, str | tuple[str, ...]],
    signature: tuple[str, ...],
    summed: Iterable[str] = (),
) -> Preset:
    normalised = {key: (value,) if isinstance(value, str) else value for key, value in columns.items()}
    return Preset(name, platform, grain, normalised, signature, frozenset(summed))


_TMALL_COLUMNS: Final[dict[str, str | tuple[str, ...]]] = {
    "order_no": "订单编号",
    "buyer": "买家会员名",
    "total": ("总金额", "买家应付货款"),
    "paid": "买家实际支付金额",
    "status": "订单状态",
    "receiver_name": "收货人姓名",
    "address": "收货地址",
    "phone": ("联系手机", "联系电话"),
    "ordered_at": "订单创建时间",
    "paid_at": "订单付款时间",
    "product": "宝贝标题",
    "quantity": "宝贝总数量",
    "shop": "店铺名称",
    "refund": "退款金额",
    "completed_at": "确认收货时间",
}
_TMALL_SIGNATURE: Final = ("订单编号", "买家会员名", "宝贝标题", "买家实际支付金额")
_TMALL_ITEMS_COLUMNS: Final[dict[str, str | tuple[str, ...]]] = {
    "order_no": "订单编号",
    "product": "标题",
    "line_price": "价格",
    "quantity": "购买数量",
    "status": "订单状态",
}

PRESETS: Final[dict[str, Preset]] = {
    preset.name: preset
    for preset in (
        _preset("tmall", "tmall", ORDER, _TMALL_COLUMNS, _TMALL_SIGNATURE),
        _preset("taobao", "taobao", ORDER, _TMALL_COLUMNS, _TMALL_SIGNATURE),
        _preset(
            "tmall_items", "tmall", LINE, _TMALL_ITEMS_COLUMNS, ("订单编号", "标题", "价格", "购买数量", "商品属性")
        ),
        _preset(
            "jd",
            "jd",
            LINE,
            {
                "order_no": "订单号",
                "line_no": "商品ID",
                "product": "商品名称",
                "quantity": "订购数量",
                "ordered_at": "下单时间",
                "line_price": "京东价",
                "total": "订单金额",
                "paid": "应付金额",
                "status": "订单状态",
                "buyer": "下单帐号",
                "receiver_name": "客户姓名",
                "address": "客户地址",
                "phone": "联系电话",
                "paid_at": "付款确认时间",
                "completed_at": "订单完成时间",
            },
            ("订单号", "商品ID", "京东价", "下单帐号", "订购数量"),
        ),
        _preset(
            "youzan",
            "youzan",
            ORDER,
            {
                "order_no": "订单号",
                "status": "订单状态",
                "ordered_at": "订单创建时间",
                "paid_at": "买家付款时间",
                "completed_at": "交易成功时间",
                "paid": "订单实付金额",
                "total": "商品金额合计",
                "product": "全部商品名称",
                "receiver_name": "收货人/提货人",
                "phone": ("收货人手机号/提货人手机号", "买家手机号"),
                "address": ("详细收货地址/提货地址", "收货地址"),
                "city": "收货人市",
                "refund": "订单已退款金额",
            },
            ("订单号", "全部商品名称", "收货人/提货人", "订单实付金额"),
        ),
        _preset(
            "pdd",
            "pdd",
            ORDER,
            {
                "product": "商品",
                "order_no": "订单号",
                "status": "订单状态",
                "total": "商品总价(元)",
                "paid": "用户实付金额(元)",
                "quantity": "商品数量(件)",
                "receiver_name": "收货人",
                "phone": ("手机", "用户购买手机号"),
                "paid_at": "支付时间",
                "ordered_at": ("订单成交时间", "支付时间"),
                "completed_at": "确认收货时间",
                "after_sale": "售后状态",
                "address": ("详细地址", "收货地址"),
                "city": "市",
            },
            ("订单号", "商品总价(元)", "用户实付金额(元)", "用户购买手机号"),
        ),
        _preset(
            "douyin",
            "douyin",
            LINE,
            {
                "order_no": "主订单编号",
                "line_no": "子订单编号",
                "product": "选购商品",
                "quantity": "商品数量",
                "line_amount": "商品金额",
                "ordered_at": "订单提交时间",
                "paid_at": "支付完成时间",
                "completed_at": "订单完成时间",
                "status": "订单状态",
                "after_sale": "售后状态",
                "paid": "订单应付金额",
                "receiver_name": "收件人",
                "phone": "收件人手机号",
                "address": ("详细地址", "收件地址"),
                "city": "市",
            },
            ("主订单编号", "子订单编号", "选购商品", "订单应付金额"),
        ),
        _preset(
            "wechat_shop",
            "wechat_shop",
            LINE,
            {
                "order_no": "订单号",
                "ordered_at": "订单下单时间",
                "status": "订单状态",
                "receiver_name": "收件人姓名",
                "phone": "收件人手机",
                "total": "商品总价",
                "paid": "订单实际支付金额",
                "paid_at": "支付时间",
                "product": "商品名称",
                "quantity": "商品数量",
                "refund": "商品已退款金额",
                "address": ("收件人地址", "详细收货地址"),
                "line_no": "商品编码(平台)",
            },
            ("订单号", "订单下单时间", "收件人手机", "订单实际支付金额"),
            summed=("refund",),
        ),
    )
}
# What `--platform` accepts besides a preset name.
PLATFORM_CHOICES: Final = ("auto", "tmall", "taobao", "jd", "youzan", "pdd", "douyin", "wechat_shop", "generic")


def header_score(preset: Preset, headers: Iterable[str]) -> int:
    """How many of the preset's known columns a header row holds."""
    present = set(headers)
    return sum(1 for names in preset.columns.values() if any(name in present for name in names))


def missing_required(preset: Preset, headers: Iterable[str]) -> list[str]:
    """Required columns (the order number) absent from the header row."""
    present = set(headers)
    return [names[0] for key, names in preset.columns.items() if key == "order_no" and not present & set(names)]


def recognise(headers: list[str]) -> Preset | None:
    """The preset whose signature best matches a header row, or None when none fits."""
    present = set(headers)
    best: tuple[int, int, Preset] | None = None
    for preset in PRESETS.values():
        if preset.name == "taobao" or missing_required(preset, headers):
            continue  # Taobao files are Tmall's format; `auto` files them under tmall
        hits = sum(1 for name in preset.signature if name in present)
        if hits < min(2, len(preset.signature)):
            continue
        candidate = (hits * 100 // len(preset.signature), header_score(preset, headers), preset)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    return None if best is None else best[2]


def column_indexes(preset: Preset, headers: list[str]) -> dict[str, list[int]]:
    """For each field the file provides, the positions of its columns (several only for phones)."""
    positions = {name: index for index, name in reversed(list(enumerate(headers)))}
    found: dict[str, list[int]] = {}
    for key, names in preset.columns.items():
        indexes = [positions[name] for name in names if name in positions]
        if indexes:
            found[key] = indexes if key == "phone" else indexes[:1]
    return found
