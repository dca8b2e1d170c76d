"""The SVG charts escape what they print; the CSV download cannot carry formulas into Excel."""

from __future__ import annotations

from console.charts import Series, funnel_chart, grouped_bar_chart, nice_ceiling, stacked_bar_chart
from console.csv_export import csv_chunk, neutralise


def test_funnel_shows_each_stage_share_of_the_previous() -> None:
    svg = str(funnel_chart([("Followers", 200), ("Bound", 50), ("Buyers", 10)]))
    assert "Bound: 50 (25% of previous)" in svg
    assert "Buyers: 10 (20% of previous)" in svg


def test_labels_are_escaped_in_every_chart() -> None:
    hostile = '<script>alert("x")</script>'
    for svg in (
        str(funnel_chart([(hostile, 1)])),
        str(grouped_bar_chart([hostile], [Series(hostile, [3])])),
        str(stacked_bar_chart([hostile], [Series(hostile, [3])])),
    ):
        assert "<script>" not in svg
        assert "&lt;script&gt;" in svg


def test_stacked_bars_without_any_value_say_so() -> None:
    svg = str(stacked_bar_chart(["1/1", "1/2"], [Series("sent", [0, 0])], title="Push outcomes"))
    assert "Push outcomes: no data yet" in svg


def test_axis_tops_are_round_numbers() -> None:
    assert [nice_ceiling(v) for v in (0, 3, 7, 11, 101)] == [2, 5, 10, 20, 200]


def test_formula_cells_are_neutralised_but_numbers_kept() -> None:
    assert neutralise('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise("-12.50") == "-12.50"
    assert neutralise("张三") == "张三"
    chunk = csv_chunk([["line", "cell"], ["3", '="2025000001"']], with_bom=True)
    assert chunk.startswith("\ufeff".encode())
    assert '\'=""2025000001"""' in chunk.decode("utf-8-sig")


def test_grouped_bars_without_any_value_say_so() -> None:
    svg = str(grouped_bar_chart(["store-42"], [Series("Follows", [0])], title="What each channel brought"))
    assert "What each channel brought: no data yet" in svg and "<rect" not in svg
