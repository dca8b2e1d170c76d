"""Reading an export file as a stream of text rows: CSV in any of the encodings marketplaces use, XLSX.

The header row is found by a probe (how many known columns a row holds), so files whose header is
not on line 1 (Pinduoduo) work. Every cell is handed on as text.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from orders.errors import ImportInputError

# How many leading rows may come before the header (titles, export notes, blank lines).
HEADER_SEARCH_ROWS = 30
_SAMPLE_BYTES = 1 << 20
OLE_MAGIC = b"\xd0\xcf\x11\xe0"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MESSAGE = (
    "{name} is an old Excel .xls file or a password-protected workbook: open it in Excel or WPS, "
    "remove any password and save it as .xlsx or as CSV (UTF-8), then import that file"
)
csv.field_size_limit(min(sys.maxsize, 1 << 30))

HeaderProbe = Callable[[list[str]], int]


@dataclass
class Table:
    """One sheet of rows under a header: `rows` yields (line number, cells) with cells as text."""

    name: str
    headers: list[str]
    header_line: int
    rows: Iterator[tuple[int, list[str]]]
    size: int
    position: Callable[[], int]
    encoding: str = ""
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Release the file handles behind the rows."""
        for closer in self.closers:
            closer()


def header_name(cell: str) -> str:
    """A header cell as presets name it: no BOM, no Excel guard, no surrounding spaces."""
    text = cell.replace("\ufeff", "").strip()
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1]
    return text.lstrip("'").strip()


def unique_headers(cells: list[str]) -> list[str]:
    """Header names made unique: a second `分销员` becomes `分销员#2` so no column shadows another."""
    seen: dict[str, int] = {}
    names: list[str] = []
    for cell in cells:
        name = header_name(cell)
        count = seen.get(name, 0) + 1
        seen[name] = count
        names.append(name if count == 1 else f"{name}#{count}")
    return names


def sniff_kind(path: Path) -> str:
    """'xlsx' or 'csv' from the first bytes; old/encrypted workbooks and empty files are refused."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except FileNotFoundError:
        raise ImportInputError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise ImportInputError(f"{path} is a directory, not an export file") from None
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise ImportInputError(f"{path.name} is empty")
    if head.startswith(OLE_MAGIC):
        raise ImportInputError(OLE_MESSAGE.format(name=path.name))
    if head.startswith(ZIP_MAGIC):
        return "xlsx"
    return "csv"


def detect_encoding(sample: bytes, name: str) -> str:
    """The text encoding of a CSV export: BOMs first, then UTF-8 if it decodes, else GB18030."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample[:200].count(b"\x00") > 20:
        # UTF-16 without a BOM: every ASCII character comes with a zero byte.
        return "utf-16-le" if sample[1:200:2].count(b"\x00") > sample[0:200:2].count(b"\x00") else "utf-16-be"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
    except UnicodeDecodeError:
        raise ImportInputError(
            f"{name} is neither UTF-8, UTF-16 nor GB18030 text, nor an XLSX workbook: is it an export file?"
        ) from None
    return "gb18030"


def _looks_binary(text: str) -> bool:
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\r\n")
    return "\x00" in text or controls > max(3, len(text) // 100)


def _find_header(
    rows: Iterator[tuple[int, list[str]]], probe: HeaderProbe, name: str
) -> tuple[int, list[str], list[tuple[int, list[str]]]]:
    """Read up to HEADER_SEARCH_ROWS rows; return the best header row and rows read after it."""
    seen: list[tuple[int, list[str]]] = []
    for line_no, cells in rows:
        seen.append((line_no, cells))
        if len(seen) >= HEADER_SEARCH_ROWS:
            break
    best_index, best_score = -1, 0
    for index, (_line, cells) in enumerate(seen):
        score = probe(unique_headers(cells))
        if score > best_score:
            best_index, best_score = index, score
    if best_index < 0 or best_score < 2:
        if not any(any(cell.strip() for cell in cells) for _line, cells in seen):
            raise ImportInputError(f"{name} has no rows")
        raise ImportInputError(
            f"{name}: no header row with known order columns in the first {HEADER_SEARCH_ROWS} rows; "
            "choose --platform or give a --mapping file for this export"
        )
    header_line, header_cells = seen[best_index]
    return header_line, unique_headers(header_cells), seen[best_index + 1 :]


def _data_rows(
    leftover: list[tuple[int, list[str]]], rest: Iterator[tuple[int, list[str]]], width: int
) -> Iterator[tuple[int, list[str]]]:
    for source in (iter(leftover), rest):
        for line_no, cells in source:
            if not any(map(str.strip, cells)):  # map keeps the blank-row test in C
                continue
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            yield line_no, cells


def open_csv(path: Path, probe: HeaderProbe) -> Table:
    """Open a CSV export for streaming, with its encoding, delimiter and header row found."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE_BYTES)
    encoding = detect_encoding(sample, path.name)
    preview = sample[:65536].decode(encoding, errors="replace")
    if _looks_binary(preview):
        raise ImportInputError(f"{path.name} holds binary data, not a CSV or XLSX export")
    first_lines = [line for line in preview.splitlines()[:HEADER_SEARCH_ROWS] if line.strip()]
    tabs = max((line.count("\t") for line in first_lines), default=0)
    commas = max((line.count(",") for line in first_lines), default=0)
    delimiter = "\t" if tabs > commas else ","
    raw = path.open("rb")
    # A stray undecodable byte deep in a file costs one cell, not the import: it shows as U+FFFD.
    text: IO[str] = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
    reader = csv.reader(text, delimiter=delimiter)

    def numbered() -> Iterator[tuple[int, list[str]]]:
        for cells in reader:
            yield reader.line_num, cells

    rows = numbered()
    try:
        header_line, headers, leftover = _find_header(rows, probe, path.name)
    except (ImportInputError, csv.Error) as error:
        text.close()
        if isinstance(error, csv.Error):
            raise ImportInputError(f"{path.name} is not a readable CSV file: {error}") from None
        raise
    return Table(
        name=path.name,
        headers=headers,
        header_line=header_line,
        rows=_data_rows(leftover, rows, len(headers)),
        size=size,
        position=raw.tell,
        encoding=encoding,
        closers=[text.close],
    )


def cell_text(value: Any) -> str:
    """An XLSX cell value as the text a CSV export would hold; floats too large to be exact look damaged."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        if abs(value) >= 1e15:
            return f"{value:.5E}"  # digits beyond float precision are gone: show it, never guess
        return repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    return str(value)


def sheet_rows(sheet: Any) -> Iterator[tuple[int, list[str]]]:
    """Rows of an openpyxl read-only sheet as (row number, cells as text)."""
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        yield number, [cell_text(value) for value in values]


def open_workbook(path: Path) -> Any:
    """Open an XLSX workbook read-only (streamed), turning library failures into a clear message."""
    import zipfile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as error:
        raise ImportInputError(f"{path.name} is not a readable XLSX workbook ({error})") from None


def open_sheet(path: Path, workbook: Any, sheet: Any, probe: HeaderProbe) -> Table:
    """A worksheet as a Table; progress is estimated from the sheet's row count."""
    size = path.stat().st_size
    total_rows = max(1, int(sheet.max_row or 1))
    rows = sheet_rows(sheet)
    label = f"{path.name} [{sheet.title}]"
    header_line, headers, leftover = _find_header(rows, probe, label)
    done = [header_line]

    def counting() -> Iterator[tuple[int, list[str]]]:
        for line_no, cells in _data_rows(leftover, rows, len(headers)):
            done[0] = line_no
            yield line_no, cells

    return Table(
        name=label,
        headers=headers,
        header_line=header_line,
        rows=counting(),
        size=size,
        position=lambda: min(size, size * done[0] // total_rows),
        encoding="xlsx",
        closers=[workbook.close],
    )
