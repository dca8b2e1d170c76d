"""Entry point of `scrm`: finds every command module in this package and runs the chosen command."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from asyncpg import PostgresError
from sqlalchemy.exc import DBAPIError, OperationalError

import scrm.cli
from base.settings import SettingsError


class UsageError(Exception):
    """Bad input to a command: printed as one line, exit code 2, nothing written."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scrm", description="SCRM Gateway: WeChat social CRM")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_info in sorted(pkgutil.iter_modules(scrm.cli.__path__), key=lambda m: m.name):
        if module_info.name in {"main", "common"}:
            continue
        module = importlib.import_module(f"scrm.cli.{module_info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.run(args)
    except (SettingsError, UsageError) as error:
        print(f"scrm: {error}", file=sys.stderr)
        return 2
    except (DBAPIError, OperationalError, PostgresError, ConnectionError) as error:
        # The database is down or misnamed, or refused a write (bulk copies reach the driver directly):
        # say so in one line instead of a driver traceback.
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"scrm: cannot use the database: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
