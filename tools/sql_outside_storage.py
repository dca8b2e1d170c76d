"""Which runtime modules outside `storage/` build SQL (issue 15: every SQL statement lives in storage).

A module builds SQL when it does any of these (read from its syntax tree, nothing is imported):

- imports a statement builder from SQLAlchemy or SQLModel: `select`, `insert`, `update`, `delete`,
  `text`, `func`, `bindparam`, `and_`/`or_`, `case`, `exists`, `literal`, `tuple_`, `col`, ... (also
  through a dialect, `sqlalchemy.dialects.postgresql.insert`);
- calls `.exec(...)`, `.execute(...)`, `.exec_driver_sql(...)` or `.scalar(s)(...)` on a session or
  connection (a name containing `session`, `conn` or `db`);
- holds a string literal that reads as raw SQL (`SELECT ... FROM`, `INSERT INTO`, `UPDATE ... SET`,
  `DELETE FROM`).

    python tools/sql_outside_storage.py          # counts per package, then the files
    python tools/sql_outside_storage.py --files  # only the files, one a line (for the test)
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The runtime packages; storage is where SQL belongs, tests/bench/tools are not shipped code.
PACKAGES = (
    "base",
    "wechat",
    "content",
    "identity",
    "orders",
    "publishing",
    "engagement",
    "handlers",
    "journeys",
    "gateway",
    "console",
    "sandbox",
    "scrm",
)

BUILDERS = frozenset(
    {
        "select",
        "insert",
        "update",
        "delete",
        "text",
        "func",
        "bindparam",
        "and_",
        "or_",
        "not_",
        "case",
        "exists",
        "literal",
        "literal_column",
        "tuple_",
        "col",
        "column",
        "table",
        "union",
        "union_all",
        "distinct",
        "cast",
        "over",
        "values",
    }
)
SQL_MODULES = ("sqlalchemy", "sqlmodel")
RUNNERS = frozenset({"exec", "execute", "exec_driver_sql", "scalar", "scalars", "stream"})
RUNNER_OWNERS = re.compile(r"session|conn|\bdb\b", re.IGNORECASE)
RAW_SQL = re.compile(
    r"\bSELECT\b[\s\S]+\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE\s+FROM\b",
    re.IGNORECASE,
)


def _is_sql_module(name: str | None) -> bool:
    return name is not None and any(name == m or name.startswith(m + ".") for m in SQL_MODULES)


def _owner_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _owner_name(node.func)
    return ""


def reasons(source: str) -> list[str]:
    """Why a module's source builds SQL (empty when it does not)."""
    tree = ast.parse(source)
    found: list[str] = []
    docstrings = {
        id(body[0].value)
        for holder in ast.walk(tree)
        if isinstance(holder, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and (body := holder.body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _is_sql_module(node.module):
            names = sorted(a.name for a in node.names if a.name in BUILDERS)
            if names:
                found.append(f"imports {', '.join(names)} from {node.module}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_sql_module(alias.name):
                    found.append(f"imports {alias.name}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RUNNERS
            and node.args
            and RUNNER_OWNERS.search(_owner_name(node.func.value))
        ):
            found.append(f"runs a statement (.{node.func.attr}) line {node.lineno}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and RAW_SQL.search(node.value)
        ):
            found.append(f"raw SQL line {node.lineno}")
    return found


def files_building_sql(root: Path = ROOT) -> dict[str, list[str]]:
    """Every runtime module outside storage that builds SQL, as a path relative to the repository."""
    result: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            why = reasons(path.read_text(encoding="utf-8"))
            if why:
                result[path.relative_to(root).as_posix()] = why
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", action="store_true", help="only the files, one a line")
    parser.add_argument("--why", action="store_true", help="each file with what gave it away")
    args = parser.parse_args(argv)
    found = files_building_sql()
    if args.files:
        for path in found:
            print(path)
        return 0
    per_package = Counter(path.split("/", 1)[0] for path in found)
    print(f"{len(found)} files outside storage/ build SQL")
    for package, count in per_package.most_common():
        print(f"  {package:<12}{count}")
    for path, why in found.items():
        print(f"{path}: {'; '.join(dict.fromkeys(why)) if args.why else ''}".rstrip(": "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
