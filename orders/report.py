"""What an import did, per file: counts for the report, rejects for the CSV and the console."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orders.records import RejectedRow

# Rejected rows kept in memory per file for API callers; the rest stream to the database and CSV.
SAMPLE_REJECTS = 1000


@dataclass
class FileReport:
    """Counts of one imported file; `rejects` keeps the rejected rows themselves."""

    file_name: str
    platform: str
    preset: str
    content_hash: str
    dry_run: bool = False
    run_id: int | None = None
    rows_read: int = 0
    orders_created: int = 0
    orders_updated: int = 0
    orders_unchanged: int = 0
    profiles_created: int = 0
    profiles_updated: int = 0
    rejects_by_reason: Counter[str] = field(default_factory=Counter)
    hints_by_kind: Counter[str] = field(default_factory=Counter)
    rejects: list[RejectedRow] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        """Rows rejected, all reasons together."""
        return sum(self.rejects_by_reason.values())

    def add_rejects(self, rows: list[RejectedRow]) -> None:
        """Count rejected rows and keep the first few (all of them are in the database and the CSV)."""
        room = SAMPLE_REJECTS - len(self.rejects)
        if room > 0:
            self.rejects.extend(rows[:room])
        self.rejects_by_reason.update(row.reason for row in rows)

    def counts(self) -> dict[str, Any]:
        """The numbers as stored on the import run and printed by `--json`."""
        return {
            "rows_read": self.rows_read,
            "orders_created": self.orders_created,
            "orders_updated": self.orders_updated,
            "orders_unchanged": self.orders_unchanged,
            "profiles_created": self.profiles_created,
            "profiles_updated": self.profiles_updated,
            "rejected": self.rejected,
            "rejects_by_reason": dict(sorted(self.rejects_by_reason.items())),
            "hints_by_kind": dict(sorted(self.hints_by_kind.items())),
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole report of the file as plain JSON-able data."""
        return {
            "file": self.file_name,
            "platform": self.platform,
            "preset": self.preset,
            "content_hash": self.content_hash,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            **self.counts(),
        }


_LABELS = (
    ("rows_read", "rows read"),
    ("orders_created", "orders created"),
    ("orders_updated", "orders updated"),
    ("orders_unchanged", "orders unchanged"),
    ("profiles_created", "profiles created"),
    ("profiles_updated", "profiles updated"),
    ("rejected", "rows rejected"),
)


def render_text(reports: list[FileReport]) -> str:
    """The human report printed by `scrm orders import`."""
    lines: list[str] = []
    for report in reports:
        title = f"{report.file_name}: {report.platform} ({report.preset})"
        lines.append(title + ("  [dry run: nothing written]" if report.dry_run else f"  [run {report.run_id}]"))
        counts = report.counts()
        for key, label in _LABELS:
            lines.append(f"  {label:<18}{counts[key]:>10,}")
        for reason, count in sorted(report.rejects_by_reason.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"    {reason:<24}{count:>8,}")
        if report.hints_by_kind:
            hints = ", ".join(f"{kind} {count:,}" for kind, count in sorted(report.hints_by_kind.items()))
            lines.append(f"  phones kept as hints only: {hints}")
    return "\n".join(lines)


class RejectsWriter:
    """Streams rejected rows to a CSV file: file, line, reason, detail, then the row's original cells.

    UTF-8 with a BOM so Excel and WPS open it with the Chinese headers intact. Each file imported
    starts with its own header row, since different exports have different columns.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        self._handle = path.open("w", encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._handle)
        self._current: tuple[str, tuple[str, ...]] | None = None

    def write(self, file_name: str, headers: list[str], rows: list[RejectedRow]) -> None:
        """Append the rejected rows of one batch."""
        if not rows:
            return
        if self._current != (file_name, tuple(headers)):
            self._current = (file_name, tuple(headers))
            self._writer.writerow(["file", "line", "reason", "detail", *headers])
        for row in rows:
            self._writer.writerow(
                [file_name, row.line_no, row.reason, row.detail, *(row.cells.get(name, "") for name in headers)]
            )
        self.written += len(rows)

    def close(self) -> None:
        """Flush and close the file."""
        self._handle.close()
