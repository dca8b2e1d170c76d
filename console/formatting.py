"""How the console shows times, numbers and money, in one place, through Babel's format functions.

Times are stored as aware UTC and always shown in China time (Asia/Shanghai), whatever the language,
with the zone said once in the page header. Money is integer fen in the database and shown as yuan: ¥
with two decimals and thousands separators. Each function takes the locale; `filters(locale)` binds them
as the Jinja2 filters every template uses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from babel.dates import format_datetime
from babel.numbers import format_decimal, format_percent

from base.clock import CHINA

# Numeric dates: operators compare and sort them at a glance, in both languages.
DATETIME = "yyyy-MM-dd HH:mm"
SHORT_DATETIME = "MM-dd HH:mm"
TIME = "HH:mm"
# The ¥ sign itself, not CLDR's CNY symbol: English CLDR writes "CN¥", which nobody here expects.
_MONEY = "¥#,##0.00;-¥#,##0.00"


def china_time(moment: datetime | None, locale: str, pattern: str = DATETIME) -> str:
    """An aware time as China local time in a CLDR pattern; blank for None. A naive time is taken as UTC."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(format_datetime(moment, pattern, tzinfo=CHINA, locale=locale))


def china_time_of_iso(stamp: object, locale: str) -> str:
    """An ISO 8601 time (as API clients report them, UTC unless it says otherwise) in China time."""
    if not isinstance(stamp, str) or not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    return china_time(moment, locale)


def number(value: int | float | None, locale: str) -> str:
    """A count with the locale's thousands separators: 1234567 -> 1,234,567; blank for None."""
    if value is None:
        return ""
    return str(format_decimal(value, locale=locale))


def money(fen: int | None, locale: str) -> str:
    """Integer fen as yuan: 123456 -> ¥1,234.56; blank for None."""
    if fen is None:
        return ""
    return str(format_decimal(Decimal(fen) / 100, format=_MONEY, locale=locale))


def percent(part: int, whole: int, locale: str) -> str:
    """`part` of `whole` as a whole percentage (42%); a dash when there is no whole."""
    if not whole:
        return "–"
    return str(format_percent(part / whole, format="#,##0%", locale=locale))


def filters(locale: str) -> dict[str, Callable[..., Any]]:
    """The Jinja2 filters for one locale: `china_time`, `short_time`, `number`, `yuan`."""

    def time_filter(moment: datetime | None, pattern: str = DATETIME) -> str:
        return china_time(moment, locale, pattern)

    return {
        "china_time": time_filter,
        "short_time": lambda moment: china_time(moment, locale, SHORT_DATETIME),
        "number": lambda value: number(value, locale),
        "yuan": lambda fen: money(fen, locale),
        "percent": lambda part, whole: percent(part, whole, locale),
    }
