"""`scrm orders import PATH...` and `scrm orders runs`: marketplace order files into profiles."""

from __future__ import annotations

import argparse
import getpass
from collections import Counter
from pathlib import Path
from typing import Any

from base.clock import SystemClock
from base.settings import Settings
from orders.errors import ImportInputError
from orders.importer import ImportOptions, import_files
from orders.mapping import load_mapping
from orders.presets import PLATFORM_CHOICES
from orders.progress import TerminalProgress
from orders.records import RejectedRow
from orders.report import FileReport, RejectsWriter, render_text
from scrm.cli import common
from scrm.cli.main import UsageError
from storage.db import Database
from storage.orders import recent_runs


def register(subparsers: Any) -> None:
    """Add the `orders` command group."""
    orders = subparsers.add_parser("orders", help="marketplace order imports")
    actions = orders.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    imp = actions.add_parser("import", help="import order export files (CSV or XLSX)")
    imp.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="export files")
    imp.add_argument("--platform", choices=PLATFORM_CHOICES, default="auto", help="default: recognised from headers")
    imp.add_argument("--mapping", type=Path, metavar="FILE", help="TOML or YAML column mapping (generic)")
    imp.add_argument("--dry-run", action="store_true", help="report the same counts, write nothing")
    imp.add_argument("--rejects", type=Path, metavar="FILE.csv", help="write each rejected row here")
    imp.add_argument("--json", action="store_true", help="print the report as one JSON object, nothing else")
    imp.set_defaults(run=_import)
    runs = actions.add_parser("runs", help="list recent imports")
    runs.add_argument("--limit", type=int, default=20)
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(run=_runs)


def _options(args: argparse.Namespace) -> ImportOptions:
    mapping = None
    if args.mapping is not None:
        if args.platform not in ("auto", "generic"):
            raise UsageError(f"--mapping is for --platform generic, not {args.platform}")
        try:
            mapping = load_mapping(args.mapping)
        except ImportInputError as error:
            raise UsageError(str(error)) from None
    elif args.platform == "generic":
        raise UsageError("--platform generic needs --mapping FILE naming the columns")
    if args.rejects is not None and not args.rejects.parent.is_dir():
        raise UsageError(f"--rejects: folder {args.rejects.parent} does not exist")
    actor = f"cli:{getpass.getuser()}"
    return ImportOptions(platform=args.platform, mapping=mapping, dry_run=args.dry_run, actor=actor)


def totals(reports: list[FileReport]) -> dict[str, Any]:
    """The counts of several files added up."""
    summed: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    hints: Counter[str] = Counter()
    for report in reports:
        counts = report.counts()
        summed.update({key: value for key, value in counts.items() if isinstance(value, int)})
        reasons.update(report.rejects_by_reason)
        hints.update(report.hints_by_kind)
    return {**summed, "rejects_by_reason": dict(sorted(reasons.items())), "hints_by_kind": dict(sorted(hints.items()))}


async def run_import(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    """The body of `scrm orders import` against an open database."""
    options = _options(args)
    progress = TerminalProgress("importing")
    writer = RejectsWriter(args.rejects) if args.rejects is not None else None

    def on_rejects(report: FileReport, headers: list[str], rows: list[RejectedRow]) -> None:
        if writer is not None:
            writer.write(report.file_name, headers, rows)

    try:
        reports = await import_files(
            db, settings, args.paths, clock=SystemClock(), options=options, progress=progress, on_rejects=on_rejects
        )
    except ImportInputError as error:
        raise UsageError(str(error)) from None
    finally:
        progress.done()
        if writer is not None:
            writer.close()
    if args.json:
        common.print_json({"files": [report.to_dict() for report in reports], "total": totals(reports)})
        return 0
    print(render_text(reports))
    if writer is not None:
        print(f"{writer.written:,} rejected rows written to {args.rejects}")
    return 0


def _import(args: argparse.Namespace) -> int:
    return common.with_database(lambda db, settings: run_import(db, settings, args))


async def _list_runs(db: Database, _settings: Settings, args: argparse.Namespace) -> int:
    async with db.engine.connect() as conn:
        runs = await recent_runs(conn, args.limit)
    if args.json:
        common.print_json(runs)
        return 0
    for run in runs:
        print(
            f"{run['id']:>5} {run['started_at']:%Y-%m-%d %H:%M} {run['state']:<10} {run['platform']:<12} "
            f"{run['file_name']}  rows {run['rows_read']:,}  +{run['orders_created']:,} "
            f"~{run['orders_updated']:,} ={run['orders_unchanged']:,}  rejected {run['rejected']:,}"
        )
    return 0


def _runs(args: argparse.Namespace) -> int:
    return common.with_database(lambda db, settings: _list_runs(db, settings, args))
