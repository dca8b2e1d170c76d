"""An order's exported cells, packed to be sealed: exactly what was exported comes back out."""

from __future__ import annotations

import pytest

from storage.formats import json_text, pack_cells, unpack_cells

CASES = [
    [["3700000000000000001", "buyer1", "199.00", "交易成功", "王先生", "浙江省 杭州市 某路1号", "", "13800138000"]],
    [["only one cell"]],
    [[""]],
    [["a", ""], ["", "b", "c"]],  # a line-level order: one list per line
    [["3 lines"]] * 3,
]


@pytest.mark.parametrize("lines", CASES)
def test_cells_come_back_as_exported(lines: list[list[str]]) -> None:
    packed = pack_cells(lines)
    assert packed[:1] == b"\x01"
    assert unpack_cells(packed) == lines


@pytest.mark.parametrize(
    "lines",
    [
        [["a\x1fb", "c"]],  # a cell that holds the cell separator
        [["a"], ["b\x1ec"]],  # or the line separator
        [["a"], []],  # an empty line would read back as one empty cell
        [],
    ],
)
def test_cells_holding_a_separator_keep_the_exact_json_form(lines: list[list[str]]) -> None:
    packed = pack_cells(lines)
    assert packed == json_text(lines).encode()
    assert unpack_cells(packed) == lines


def test_cells_sealed_as_json_before_packing_still_read() -> None:
    assert unpack_cells('[["1001","王先生"],["1001","李女士"]]'.encode()) == [["1001", "王先生"], ["1001", "李女士"]]
