"""The profile list's filter form: read from the query string (a shareable URL), written back into links.

Each field is checked on its own; a bad value is dropped with a message naming the field, so the rest of
the filter still applies and the page never fails on what someone typed or pasted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from base.i18n import _
from console.labels import label
from orders.rfm import SEGMENTS
from storage.profile_list import SORTS, FilterError, ProfileFilter

# The query-string names of the filter's fields (spend is typed in yuan, kept in fen).
INT_FIELDS = ("r_min", "f_min", "m_min", "active_days", "journey_id", "clicks_min", "clicks_days")
OPTIONAL_INT_FIELDS = ("orders_min", "orders_max")
YUAN_FIELDS = (("spend_min", "spend_min_fen"), ("spend_max", "spend_max_fen"))
CHOICE_FIELDS = ("consent", "bound")
FORM_FIELDS = (
    "segment", "r_min", "f_min", "m_min", "orders_min", "orders_max", "spend_min", "spend_max", "channel",
    "consent", "bound", "active_days", "journey_id", "clicks_min", "clicks_days", "sort",
)  # fmt: skip
# Days are bounded so a typo like 99999999 reads as "ever", not as a date before year 1.
MAX_DAYS = 3650
# Paging deep into a million profiles reads every row before the page; past 10,000 profiles the list says
# to narrow the filter (or export it) instead.
MAX_PAGE = 200
# A saved segment's name goes into `saved:<name>` (mass sends, journey triggers): words, digits, - and _.
SEGMENT_NAME = re.compile(r"^[\w\-]{1,40}$")


def _titles() -> dict[str, str]:
    return {
        "segment": _("Segment"),
        "r_min": _("Recency score at least"),
        "f_min": _("Frequency score at least"),
        "m_min": _("Monetary score at least"),
        "orders_min": _("Orders from"),
        "orders_max": _("Orders to"),
        "spend_min": _("Spend from (¥)"),
        "spend_max": _("Spend to (¥)"),
        "channel": _("Channel"),
        "consent": _("Marketing consent"),
        "bound": _("Bound to WeChat"),
        "active_days": _("Interacted within (days)"),
        "journey_id": _("Journey"),
        "clicks_min": _("Link clicks at least"),
        "clicks_days": _("Clicks within (days)"),
        "sort": _("Sort by"),
        "page": _("Page"),
    }


@dataclass(frozen=True)
class ParsedFilter:
    spec: ProfileFilter
    page: int
    problems: list[str]

    def query(self, **changes: Any) -> dict[str, str]:
        """The filter as query-string values (only the fields that filter), with `changes` applied."""
        return filter_query(self.spec, **changes)


def parse_filter(query: Mapping[str, str]) -> ParsedFilter:
    """The filter and page a query string asks for; every value that cannot be used is reported."""
    titles = _titles()
    problems: list[str] = []
    values: dict[str, Any] = {}

    def whole(name: str, low: int, high: int) -> int | None:
        raw = query.get(name, "").strip()
        if not raw:
            return None
        if raw.isdigit() and low <= int(raw) <= high:
            return int(raw)
        message = _("%(field)s must be a whole number from %(low)s to %(high)s: ignored.")
        problems.append(message % {"field": titles[name], "low": low, "high": high})
        return None

    segment = query.get("segment", "").strip()
    if segment and segment not in SEGMENTS:
        problems.append(_("Unknown segment “%(segment)s”: ignored.") % {"segment": segment[:40]})
    elif segment:
        values["segment"] = segment
    for name in INT_FIELDS:
        high = 5 if name in ("r_min", "f_min", "m_min") else MAX_DAYS if name.endswith("days") else 10**9
        low = 1 if name == "clicks_days" else 0
        number = whole(name, low, high)
        if number is not None:
            values[name] = number
    for name in OPTIONAL_INT_FIELDS:
        values[name] = whole(name, 0, 10**9)
    for name, field in YUAN_FIELDS:
        values[field] = _yuan(query.get(name, ""), titles[name], problems)
    channel = query.get("channel", "").strip()
    if len(channel) > 64:
        problems.append(_("%(field)s: at most 64 characters: ignored.") % {"field": titles["channel"]})
    elif channel:
        values["channel"] = channel
    for name in CHOICE_FIELDS:
        choice = query.get(name, "").strip()
        if choice and choice not in ("yes", "no"):
            problems.append(_("%(field)s must be yes, no or any: ignored.") % {"field": titles[name]})
        elif choice:
            values[name] = choice
    sort = query.get("sort", "").strip()
    if sort and sort not in SORTS:
        problems.append(_("Unknown sort “%(sort)s”: sorted by last order.") % {"sort": sort[:40]})
    elif sort:
        values["sort"] = sort
    page = whole("page", 1, MAX_PAGE) or 1
    try:
        spec = ProfileFilter(**values)
    except FilterError as error:  # each field was checked above; this is a safety net, never a 500
        problems.append(str(error))
        spec = ProfileFilter()
    if spec.contradicts_itself():
        problems.append(_("A minimum is above its maximum: no profile can match."))
    return ParsedFilter(spec, page, problems)


def _yuan(raw: str, title: str, problems: list[str]) -> int | None:
    raw = raw.strip().replace(",", "").lstrip("¥")
    if not raw:
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        amount = Decimal(-1)
    if not amount.is_finite() or amount < 0 or amount > 10**9 or amount != amount.quantize(Decimal("0.01")):
        problems.append(_("%(field)s must be an amount in yuan like 199 or 199.50: ignored.") % {"field": title})
        return None
    return int(amount * 100)


def filter_query(spec: ProfileFilter, **changes: Any) -> dict[str, str]:
    """Query-string values that give back `spec` through `parse_filter` (amounts in yuan)."""
    values: dict[str, str] = {}
    for name, value in spec.to_doc().items():
        if name.endswith("_fen"):
            values[name.removesuffix("_fen")] = _format_yuan(int(value))
        else:
            values[name] = str(value)
    for name, value in changes.items():
        if value in (None, ""):
            values.pop(name, None)
        else:
            values[name] = str(value)
    return values


def _format_yuan(fen: int) -> str:
    return str(fen // 100) if fen % 100 == 0 else f"{fen / 100:.2f}"


def form_values(spec: ProfileFilter) -> dict[str, str]:
    """What each form field shows: the filter's value, or blank."""
    return {name: filter_query(spec).get(name, "") for name in FORM_FIELDS}


def check_segment_name(name: str) -> str | None:
    """Why `name` cannot name a saved segment, or None when it can."""
    if not name:
        return _("Give the segment a name.")
    if not SEGMENT_NAME.match(name):
        return _("A segment name is 1-40 letters, digits, “-” or “_”, without spaces, like vip_shanghai.")
    return None


def describe_filter(spec: ProfileFilter) -> str:
    """The filter in words, field by field (amounts in yuan): "Segment loyal · Orders from 2"."""
    titles = _titles()
    parts = []
    for name, value in filter_query(spec).items():
        shown = value
        if name == "segment":
            shown = label(value, "segment")
        elif name == "sort":
            shown = label(value, "profile_sort")
        elif name in CHOICE_FIELDS:
            shown = _("yes") if value == "yes" else _("no")
        parts.append(f"{titles.get(name, name)}: {shown}")
    return " · ".join(parts)
