"""Opening an export: sniff the file type, find the header, choose (or check) the preset."""

from __future__ import annotations

from pathlib import Path

from orders.errors import ImportInputError
from orders.presets import PRESETS, Preset, header_score, missing_required, recognise
from orders.qianniu import is_qianniu, open_qianniu
from orders.sources import HeaderProbe, Table, open_csv, open_sheet, open_workbook, sniff_kind


def _probe_for(preset: Preset | None) -> HeaderProbe:
    """Scores a row as the header. A forced preset also accepts any known export's header, so that a
    file of the wrong platform is told which column it lacks instead of "no header found"."""
    candidates = [p for p in PRESETS.values() if p.name != "taobao"]

    def known_export(headers: list[str]) -> int:
        return max(sum(1 for name in p.signature if name in headers) for p in candidates)

    if preset is None:
        return known_export
    return lambda headers: max(header_score(preset, headers), known_export(headers))


def _open_table(path: Path, forced: Preset | None) -> Table:
    kind = sniff_kind(path)
    probe = _probe_for(forced)
    if kind == "csv":
        return open_csv(path, probe)
    workbook = open_workbook(path)
    try:
        names = list(workbook.sheetnames)
        if is_qianniu(names) and (forced is None or forced.platform in ("tmall", "taobao")):
            return open_qianniu(path, workbook, _probe_for(forced or PRESETS["tmall"]))
        last_error: ImportInputError | None = None
        for name in names:
            try:
                return open_sheet(path, workbook, workbook[name], probe)
            except ImportInputError as error:
                last_error = error
        raise last_error or ImportInputError(f"{path.name} has no worksheets")
    except BaseException:
        workbook.close()
        raise


def open_export(path: Path, platform: str = "auto", mapping: Preset | None = None) -> tuple[Table, Preset]:
    """The table of rows and the preset that reads it; every reason it cannot be imported is an error."""
    if platform == "generic" and mapping is None:
        raise ImportInputError("--platform generic needs --mapping FILE naming the columns")
    forced = mapping if mapping is not None else (None if platform == "auto" else PRESETS.get(platform))
    if platform not in ("auto", "generic") and forced is None:
        raise ImportInputError(f"unknown platform {platform!r}; choose one of auto, generic, {', '.join(PRESETS)}")
    table = _open_table(path, forced)
    try:
        if forced is None:
            recognised = recognise(table.headers)
            if recognised is None:
                raise ImportInputError(
                    f"{table.name}: the columns do not match any marketplace export we know; "
                    "choose --platform or give a --mapping file"
                )
            return table, recognised
        missing = missing_required(forced, table.headers)
        if missing:
            shown = ", ".join(table.headers[:8]) + (" ..." if len(table.headers) > 8 else "")
            raise ImportInputError(
                f"{table.name}: column {' / '.join(missing)} required by the {forced.name} preset is missing "
                f"(the file has: {shown})"
            )
        if header_score(forced, table.headers) < 2:
            raise ImportInputError(
                f"{table.name}: the columns do not look like a {forced.name} export (only the order number matched)"
            )
        return table, forced
    except BaseException:
        table.close()
        raise
