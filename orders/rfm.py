"""RFM scores, named segments and lifecycle stages: pure functions of a profile's purchase summary.

Scores use fixed thresholds rather than quantiles of the whole customer base, so a profile can be
re-scored alone, right after the import that touched it, without reading everyone else.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime

# Upper bounds (inclusive) of days since the last purchase for recency scores 5, 4, 3, 2; else 1.
RECENCY_DAYS = (30, 90, 180, 365)
# Lower bounds of purchase counts for frequency scores 2, 3, 4, 5.
FREQUENCY_ORDERS = (2, 3, 4, 6)
# Lower bounds of total spend (fen) for monetary scores 2, 3, 4, 5: 100, 300, 1 000 and 3 000 yuan.
MONETARY_FEN = (10_000, 30_000, 100_000, 300_000)

SEGMENTS = ("prospect", "new", "active", "loyal", "champion", "promising", "needs_attention", "at_risk", "lapsed")


@dataclass(frozen=True, slots=True)
class RfmScore:
    """Recency, frequency and monetary scores (1-5 each; all 0 for someone who never bought)."""

    recency: int
    frequency: int
    monetary: int


def score(order_count: int, total_spent_fen: int, last_order_at: datetime | None, now: datetime) -> RfmScore:
    """Score one profile; `now` comes from the injected clock."""
    if order_count <= 0 or last_order_at is None:
        return RfmScore(0, 0, 0)
    days = max(0, (now - last_order_at).days)
    # bisect counts the bounds passed (an import scores every profile it touched): bisect_left the
    # bounds below `days`, bisect_right those at or below the count and the spend.
    recency = 5 - bisect_left(RECENCY_DAYS, days)
    frequency = 1 + bisect_right(FREQUENCY_ORDERS, order_count)
    monetary = 1 + bisect_right(MONETARY_FEN, total_spent_fen)
    return RfmScore(recency, frequency, monetary)


def segment(rfm: RfmScore) -> str:
    """The named segment journeys target, from the scores."""
    r, f, m = rfm.recency, rfm.frequency, rfm.monetary
    if r == 0:
        return "prospect"
    if r >= 4 and f >= 4 and m >= 4:
        return "champion"
    if r >= 3 and f >= 4:
        return "loyal"
    if r >= 4 and f == 1:
        return "new"
    if r >= 4:
        return "active"
    if r == 3 and f <= 2:
        return "promising" if m >= 3 else "needs_attention"
    if r == 3:
        return "needs_attention"
    if r == 2:
        return "at_risk"
    return "lapsed"


def lifecycle_stage(order_count: int, segment_name: str) -> str:
    """Where the person is in the journey from prospect to loyal repeat buyer."""
    if order_count <= 0:
        return "prospect"
    if segment_name in ("at_risk", "lapsed"):
        return "churning" if segment_name == "at_risk" else "lapsed"
    if segment_name in ("loyal", "champion"):
        return "loyal"
    return "first_purchase" if order_count == 1 else "repeat"
