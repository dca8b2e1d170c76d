"""RFM scores at their documented thresholds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orders.rfm import score

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days", "recency"), [(0, 5), (30, 5), (31, 4), (90, 4), (91, 3), (180, 3), (181, 2), (365, 2), (366, 1)]
)
def test_recency_bounds_are_inclusive_upper_limits(days: int, recency: int) -> None:
    assert score(1, 0, NOW - timedelta(days=days), NOW).recency == recency


@pytest.mark.parametrize(("orders", "frequency"), [(1, 1), (2, 2), (3, 3), (4, 4), (5, 4), (6, 5), (40, 5)])
def test_frequency_counts_purchases(orders: int, frequency: int) -> None:
    assert score(orders, 0, NOW, NOW).frequency == frequency


@pytest.mark.parametrize(
    ("fen", "monetary"), [(0, 1), (9_999, 1), (10_000, 2), (29_999, 2), (30_000, 3), (100_000, 4), (300_000, 5)]
)
def test_monetary_thresholds_in_fen(fen: int, monetary: int) -> None:
    assert score(1, fen, NOW, NOW).monetary == monetary


def test_no_purchase_scores_zero() -> None:
    assert (score(0, 0, None, NOW).recency, score(3, 100, None, NOW).frequency) == (0, 0)
