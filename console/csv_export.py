"""CSV downloads that open cleanly in Excel (UTF-8 with BOM) and cannot smuggle formulas into it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# A cell starting with one of these is a formula to Excel (CSV injection); a leading apostrophe makes
# it text. Marketplace guards like ="123" lose their formula meaning but keep their visible digits.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """The cell, made inert for spreadsheets; a plain negative number like -12.5 is left alone."""
    if cell.startswith(_FORMULA_STARTS) and not _is_number(cell):
        return "'" + cell
    return cell


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def csv_chunk(rows: Iterable[Sequence[str]], *, with_bom: bool = False) -> bytes:
    """Rows encoded as CSV bytes (one chunk of a streamed download)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([neutralise(str(cell)) for cell in row])
    return (("\ufeff" if with_bom else "") + buffer.getvalue()).encode("utf-8")
