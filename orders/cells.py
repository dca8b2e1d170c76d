"""Turning one exported cell into a value: text without Excel guards, money in fen, UTC times, statuses.

Every cell arrives as text. Bad values raise `CellError`, which the row reader turns into a reject
naming the column; nothing here guesses.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Final

# China has kept UTC+8 without daylight saving since 1991; a fixed offset is exact for any order
# export and far cheaper than a zoneinfo lookup per cell.
_CHINA_FIXED = timezone(timedelta(hours=8))

PENDING: Final = "pending"
PAID: Final = "paid"
SHIPPED: Final = "shipped"
COMPLETED: Final = "completed"
CLOSED: Final = "closed"
REFUNDED: Final = "refunded"
STATUSES: Final = (PENDING, PAID, SHIPPED, COMPLETED, CLOSED, REFUNDED)
# Orders that count as a purchase in a profile's aggregates.
PURCHASED: Final = frozenset({PAID, SHIPPED, COMPLETED})


class CellError(ValueError):
    """A cell that cannot be read; `reason` is the short code counted in the import report."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_EMPTY: Final = frozenset({"", "-", "--", "—", "null", "NULL", "None", "nan", "N/A", "n/a", "无"})
_GUARD_STARTS: Final = frozenset({"=", "'"})


def clean_text(cell: str) -> str:
    """Strip Excel guards (`="..."`, a leading `'` or tab) and whitespace; `-` and friends become ""."""
    text = cell.strip()
    # Most cells carry no guard: one slice test skips both guard checks.
    if text[:1] in _GUARD_STARTS:
        if text.startswith('="') and text.endswith('"'):
            text = text[2:-1].strip()
        if text.startswith("'"):
            text = text[1:].strip()
    return "" if text in _EMPTY else text


_SCI: Final = re.compile(r"[+-]?\d+(?:\.\d+)?[eE][+-]?\d+")
_ORDER_NO: Final = re.compile(r"[0-9A-Za-z_\-]{1,64}")


def clean_order_no(cell: str) -> str:
    """An order number without guards or float damage; scientific notation lost digits and is refused."""
    text = clean_text(cell)
    if text.isdigit() and text.isascii() and len(text) <= 64:
        return text  # the usual shape: plain ASCII digits pass every check below
    if not text:
        raise CellError("missing_order_no", "the order number is empty")
    if _SCI.fullmatch(text):
        raise CellError("order_no_sci_notation", f"order number {text!r} was turned into scientific notation")
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    if not _ORDER_NO.fullmatch(text):
        raise CellError("bad_order_no", f"order number {text!r} has unexpected characters")
    return text


# Notes in brackets after the amount: `499.00（系统计算中，该值仅供参考）`.
_NOTE: Final = re.compile(r"[（(【\[].*?[）)】\]]")
_MONEY: Final = re.compile(r"-?\d+(?:\.\d+)?")
_money_cache: dict[str, int | None] = {}


def parse_money(cell: str, column: str = "amount") -> int | None:
    """`¥1,299.50元` -> 129950 fen; empty, `-` -> None. Anything else unreadable raises CellError."""
    cached = _money_cache.get(cell)
    if cached is not None or cell in _money_cache:
        return cached
    text = clean_text(cell)
    if text:
        text = _NOTE.sub("", text)
        for mark in ("元", "¥", "￥", "RMB", "CNY", ",", "，", " "):
            text = text.replace(mark, "")
    if not text or text in _EMPTY:
        value: int | None = None
    elif _MONEY.fullmatch(text):
        try:
            value = int((Decimal(text) * 100).quantize(Decimal(1)))
        except InvalidOperation:  # pragma: no cover - the regex admits only decimals
            raise CellError("bad_money", f"{column}: {cell!r} is not an amount") from None
    else:
        raise CellError("bad_money", f"{column}: {cell!r} is not an amount")
    if len(_money_cache) < 100_000:
        _money_cache[cell] = value
    return value


_TIME: Final = re.compile(
    r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.\d+)?)?)?"
)
_COMPACT_TIME: Final = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?")


_time_cache: dict[str, datetime | None] = {}
_EIGHT_HOURS: Final = timedelta(hours=8)
# The shape nearly every export uses; anything else (one-digit parts, `/`, guards) takes the general parser.
_COMMON_TIME: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def parse_china_time(cell: str, column: str = "time") -> datetime | None:
    """A China-time stamp as exported (`2024-01-05 12:34:56`, `2024/1/5 12:34`...) to aware UTC."""
    if not cell:
        return None
    # Order and payment times of one row are often the same text: a small cache pays for itself.
    cached = _time_cache.get(cell)
    if cached is not None:
        return cached
    if _COMMON_TIME.fullmatch(cell):
        try:
            local = datetime(
                int(cell[0:4]), int(cell[5:7]), int(cell[8:10]), int(cell[11:13]), int(cell[14:16]),
                int(cell[17:19]), tzinfo=UTC,
            )  # fmt: skip
            value = local - _EIGHT_HOURS  # China keeps a fixed UTC+8 (see _CHINA_FIXED)
        except (ValueError, OverflowError):
            pass  # not a real date: the general parser words the error
        else:
            if len(_time_cache) >= 50_000:
                _time_cache.clear()
            _time_cache[cell] = value
            return value
    return parse_china_time_general(cell, column)


def parse_china_time_general(cell: str, column: str = "time") -> datetime | None:
    """`parse_china_time` without the fast path: every accepted spelling, cleaned of Excel guards."""
    text = clean_text(cell)
    if not text or text.startswith("0000"):
        return None
    match = _TIME.fullmatch(text) or _COMPACT_TIME.fullmatch(text)
    if match is None:
        raise CellError("bad_time", f"{column}: {cell!r} is not a date and time")
    parts = [int(part) if part else 0 for part in match.groups()]
    try:
        local = datetime(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], tzinfo=_CHINA_FIXED)
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        # OverflowError: a year-1 stamp has no UTC instant in range.
        raise CellError("bad_time", f"{column}: {cell!r} is not a real date") from None


_EXACT_STATUS: Final = {
    "等待买家付款": PENDING,
    "待付款": PENDING,
    "未付款": PENDING,
    "待支付": PENDING,
    "买家已付款,等待卖家发货": PAID,
    "已付款": PAID,
    "待发货": PAID,
    "等待出库": PAID,
    "等待发货": PAID,
    "已支付": PAID,
    "卖家已发货,等待买家确认": SHIPPED,
    "已发货": SHIPPED,
    "待收货": SHIPPED,
    "已发货,待收货": SHIPPED,
    "等待确认收货": SHIPPED,
    "交易成功": COMPLETED,
    "完成": COMPLETED,
    "交易完成": COMPLETED,
    "已完成": COMPLETED,
    "已收货": COMPLETED,
    "已签收": COMPLETED,
    "交易关闭": CLOSED,
    "已关闭": CLOSED,
    "已取消": CLOSED,
    "取消": CLOSED,
    "锁定": CLOSED,
    "退款成功": REFUNDED,
    "已退款": REFUNDED,
    "全额退款": REFUNDED,
}
# Fallback by keyword for wordings we have not met yet, most specific first.
_KEYWORD_STATUS: Final = (
    ("退款成功", REFUNDED),
    ("已退款", REFUNDED),
    ("关闭", CLOSED),
    ("取消", CLOSED),
    ("成功", COMPLETED),
    ("完成", COMPLETED),
    ("收货", COMPLETED),
    ("发货", SHIPPED),
    ("出库", PAID),
    ("付款", PENDING),
)
_status_cache: dict[str, str] = {}


def map_status(cell: str) -> tuple[str, str]:
    """(canonical status, original text). Unknown wordings raise CellError rather than guess."""
    original = clean_text(cell)
    cached = _status_cache.get(original)
    if cached is not None:
        return cached, original
    # Full- and half-width commas both occur; a deleted-but-open JD order keeps its state.
    key = original.replace("，", ",").replace("(删除)", "").replace("（删除）", "").replace(" ", "")
    status = _EXACT_STATUS.get(key)
    if status is None:
        for word, candidate in _KEYWORD_STATUS:
            if word in key:
                status = candidate
                break
    if status is None:
        raise CellError("unknown_status", f"order status {original!r} is not one we know")
    _status_cache[original] = status
    return status, original


def after_sale_refunded(cell: str) -> bool:
    """True when an after-sales column says the money went back (`退款成功`, `已退款`...)."""
    text = clean_text(cell)
    return bool(text) and ("退款成功" in text or "已退款" in text or text == "售后完成-退款")


_ADDRESS_CITY: Final = re.compile(
    r"^(?P<province>[^省市区]{2,8}?(?:省|自治区|市|特别行政区))?\s*(?P<city>[^市]{1,10}?(?:市|州|盟|地区))?"
)
_MUNICIPALITIES: Final = ("北京", "上海", "天津", "重庆")
# Buyers who order again export the same address: the result is cached by the cell text.
_city_cache: dict[str, str | None] = {}


def city_from_address(address: str) -> str | None:
    """The city of a Chinese address (`浙江省 杭州市 西湖区 ...` -> `杭州市`; `北京 北京市 ...` -> `北京市`)."""
    if address in _city_cache:
        return _city_cache[address]
    city = _city_of(address)
    if len(_city_cache) >= 50_000:
        _city_cache.clear()  # bounded: peak memory must not grow with the file
    _city_cache[address] = city
    return city


def _city_of(address: str) -> str | None:
    text = clean_text(address).replace("\u3000", " ")
    if not text:
        return None
    for name in _MUNICIPALITIES:
        if text.startswith(name):
            return name + "市"
    parts = text.split()
    if len(parts) >= 2 and parts[1].endswith(("市", "州", "盟", "地区")):
        return parts[1][:60]
    match = _ADDRESS_CITY.match(text)
    if match and match.group("city"):
        return match.group("city").strip()[:60]
    return None
