"""What an import keeps in clear when `SCRM_DATA_KEY` is set: masked forms a person can still read.

An order's exported cells are sealed whole (`orders.wire`); what must stay readable without the key is
masked here instead: a weak phone hint (the identity review shows it beside the order's name and city)
and the personal cells of rejected rows (shown and downloaded so someone can see what was wrong).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from base.phones import EXTENSION, LANDLINE, MOBILE, VIRTUAL, classify_phone
from orders.records import RejectedRow

# A number of 7 digits or more, separators allowed between them: `13800138000`, `+86 138 0013 8000`. Used
# on phone cells only: a time such as `2025-12-01 10:00` would match too.
_NUMBER = re.compile(r"\+?\d(?:[\s\-]*\d){6,}")
# In free text (a reject's detail quotes the cell it could not read): bare runs of 7 digits or more and
# mobiles written in groups (`138 0013 8000`, `138-0013-8000`), never a date.
_NUMBER_IN_TEXT = re.compile(r"\d{7,}|1[3-9]\d[\s\-]\d{4}[\s\-]\d{4}")
# Verdicts of a cell that holds someone's number, whatever column it is in (nicknames are often phones).
_NUMBERS = frozenset({MOBILE, EXTENSION, VIRTUAL, LANDLINE})


def _mask_number(match: re.Match[str]) -> str:
    text = match.group()
    digits = sum(char.isdigit() for char in text)
    kept, masked = 0, []
    for char in text:
        if char.isdigit():
            kept += 1
            # The first three and last four digits stay, as on a masked phone (138****8000).
            masked.append(char if kept <= 3 or kept > digits - 4 else "*")
        else:
            masked.append(char)
    return "".join(masked)


def mask_digits(text: str) -> str:
    """Every number of 7 digits or more in a phone cell, masked but its first three and last four digits."""
    return _NUMBER.sub(_mask_number, text)


def mask_text(text: str) -> str:
    """A name or address: its first character, then stars."""
    stripped = text.strip()
    return stripped[:1] + "*" * (len(stripped) - 1) if stripped else text


def mask_reject(row: RejectedRow, phones: Collection[str], personal: Collection[str]) -> RejectedRow:
    """A rejected row with its phone cells (`phones`: header names), its other personal cells (names,
    addresses) and any cell that reads as a phone number masked, and numbers in its detail too."""
    cells = {}
    for header, cell in row.cells.items():
        if header in phones or classify_phone(cell).kind in _NUMBERS:
            cells[header] = mask_digits(cell)
        elif header in personal:
            cells[header] = mask_text(cell)
        else:
            cells[header] = cell
    return RejectedRow(row.line_no, row.reason, _NUMBER_IN_TEXT.sub(_mask_number, row.detail), cells)
