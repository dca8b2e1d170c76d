"""Charts as inline SVG, drawn on the server: no script, no outside asset, readable without colour.

Every label is escaped; every bar carries a <title> so hovering shows the exact number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from base.i18n import _

PALETTE = ("#2f6fde", "#35a36b", "#e0a526", "#d9534f", "#7a5ccf", "#5bc0de", "#8c8c8c", "#c06c84")
OUTCOME_COLOURS = {
    "sent": "#35a36b",
    "held": "#e0a526",
    "expired": "#8c8c8c",
    "skipped": "#5bc0de",
    "failed": "#d9534f",
    "cancelled": "#7a5ccf",
    "unknown": "#c06c84",
}


@dataclass(frozen=True)
class Series:
    """One named row of values (one per category of the chart)."""

    name: str
    values: Sequence[int]


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def funnel_chart(stages: Sequence[tuple[str, int]], *, width: int = 640, title: str = "") -> Markup:
    """Horizontal bars narrowing stage by stage, with each stage's share of the previous one."""
    bar_height, gap, label_width = 34, 10, 150
    height = len(stages) * (bar_height + gap) + gap
    top = max((count for _label, count in stages), default=0) or 1
    usable = width - label_width - 120
    parts = [_open_svg(width, height, title)]
    previous: int | None = None
    for index, (label, count) in enumerate(stages):
        y = gap + index * (bar_height + gap)
        bar = max(2, round(usable * count / top)) if count else 0
        x = label_width + (usable - bar) / 2
        share = (
            " " + _("(%(share)s of previous)") % {"share": _percent(count, previous)} if previous is not None else ""
        )
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height / 2 + 5}" text-anchor="end" class="chart-label">'
            f"{escape(label)}</text>"
            f'<rect x="{x:.1f}" y="{y}" width="{bar}" height="{bar_height}" rx="3" fill="{PALETTE[index % 8]}">'
            f"<title>{escape(label)}: {count}{escape(share)}</title></rect>"
            f'<text x="{label_width + usable + 8}" y="{y + bar_height / 2 + 5}" class="chart-value">{count}'
            f"{escape(' · ' + _percent(count, previous)) if previous is not None else ''}</text>"
        )
        previous = count
    parts.append("</svg>")
    return _trusted(parts)


def grouped_bar_chart(
    categories: Sequence[str], series: Sequence[Series], *, width: int = 720, height: int = 260, title: str = ""
) -> Markup:
    """Bars side by side per category (e.g. a funnel's stages per channel), with a legend."""
    if not categories or not any(any(one.values) for one in series):
        return empty_chart(_no_data(title), width=width)
    left, bottom, top_pad = 40, 40, 30
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    top = nice_ceiling(max((max(s.values, default=0) for s in series), default=0))
    slot = plot_w / len(categories)
    bar_w = max(2.0, (slot - 12) / max(1, len(series)))
    parts = [_open_svg(width, height, title), _legend(series, left, 16), _y_axis(left, top_pad, plot_h, top, width)]
    for c_index, category in enumerate(categories):
        x0 = left + c_index * slot + 6
        for s_index, one in enumerate(series):
            value = one.values[c_index] if c_index < len(one.values) else 0
            bar_h = plot_h * value / top
            x = x0 + s_index * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{top_pad + plot_h - bar_h:.1f}" width="{bar_w - 1:.1f}" height="{bar_h:.1f}" '
                f'fill="{PALETTE[s_index % 8]}"><title>{escape(category)} · {escape(one.name)}: {value}</title></rect>'
            )
        parts.append(
            f'<text x="{x0 + (slot - 12) / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'class="chart-label">{escape(_shorten(category, 16))}</text>'
        )
    parts.append("</svg>")
    return _trusted(parts)


def stacked_bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    colours: dict[str, str] | None = None,
    width: int = 720,
    height: int = 240,
    title: str = "",
) -> Markup:
    """One bar per category (e.g. a day), stacked by series (e.g. push outcomes)."""
    if not categories or not any(any(one.values) for one in series):
        return empty_chart(_no_data(title), width=width)
    left, bottom, top_pad = 40, 36, 30
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    totals = [sum(one.values[i] for one in series if i < len(one.values)) for i in range(len(categories))]
    top = nice_ceiling(max(totals, default=0))
    slot = plot_w / len(categories)
    parts = [
        _open_svg(width, height, title),
        _legend(series, left, 16, colours),
        _y_axis(left, top_pad, plot_h, top, width),
    ]
    label_every = max(1, len(categories) // 10)
    for c_index, category in enumerate(categories):
        x = left + c_index * slot + slot * 0.15
        y = float(top_pad + plot_h)
        for s_index, one in enumerate(series):
            value = one.values[c_index] if c_index < len(one.values) else 0
            if not value:
                continue
            bar_h = plot_h * value / top
            y -= bar_h
            colour = (colours or {}).get(one.name, PALETTE[s_index % 8])
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}" fill="{colour}">'
                f"<title>{escape(category)} · {escape(one.name)}: {value}</title></rect>"
            )
        if c_index % label_every == 0:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'class="chart-label">{escape(category)}</text>'
            )
    parts.append("</svg>")
    return _trusted(parts)


def empty_chart(message: str, *, width: int = 720, height: int = 80) -> Markup:
    return _trusted(
        [
            _open_svg(width, height, message),
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="chart-empty">{escape(message)}</text>',
            "</svg>",
        ]
    )


def _no_data(title: str) -> str:
    return _("%(chart)s: no data yet") % {"chart": title} if title else _("No data yet")


def _trusted(parts: list[str]) -> Markup:
    # Every text that reaches `parts` went through escape(); numbers and colours are ours.
    return Markup("".join(parts))  # noqa: S704


def _open_svg(width: int, height: int, title: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    )


def _legend(series: Sequence[Series], x: int, y: int, colours: dict[str, str] | None = None) -> str:
    parts = []
    offset = x
    for index, one in enumerate(series):
        colour = (colours or {}).get(one.name, PALETTE[index % 8])
        parts.append(
            f'<rect x="{offset}" y="{y - 10}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{offset + 16}" y="{y}" class="chart-legend">{escape(one.name)}</text>'
        )
        # Chinese characters are about twice as wide as Latin ones at the legend's size.
        offset += 28 + sum(14 if ord(char) >= 0x2E80 else 8 for char in one.name)
    return "".join(parts)


def _y_axis(left: int, top_pad: int, plot_h: int, top: int, width: int) -> str:
    parts = []
    for fraction in (0, 0.5, 1):
        y = top_pad + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" class="chart-grid"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" class="chart-axis">{top * fraction:g}</text>'
        )
    return "".join(parts)


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 2): round axis ticks."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= max(value, 2):
                return step * magnitude
        magnitude *= 10


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
