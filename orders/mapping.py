"""Generic mapping files: column names of any other shop system mapped to our fields (TOML or YAML).

platform = "myshop"        # optional; orders are keyed by (platform, order number)
grain = "order"            # or "line" when the file has one row per item
[columns]
order_no = "Order ID"
paid = "Paid"
phone = ["Mobile", "Phone"]
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

from orders.errors import ImportInputError
from orders.presets import FIELDS, LINE, ORDER, PRESETS, Preset

_PLATFORM = re.compile(r"[a-z][a-z0-9_]{0,23}")
_TOP_LEVEL = {"platform", "grain", "columns", "summed"}


def _read_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportInputError(f"mapping file {path} does not exist") from None
    except UnicodeDecodeError:
        raise ImportInputError(f"mapping file {path} is not UTF-8 text") from None
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        return yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        kind = path.suffix.lstrip(".").upper() or "TOML/YAML"
        raise ImportInputError(f"mapping file {path} is not valid {kind}: {first_line}") from None


def load_mapping(path: Path) -> Preset:
    """Read and validate a mapping file into a preset; every mistake is named in one message."""
    document = _read_document(path)
    if not isinstance(document, dict):
        raise ImportInputError(f"mapping file {path} must hold a table with a [columns] section")
    unknown_keys = sorted(set(document) - _TOP_LEVEL)
    if unknown_keys:
        raise ImportInputError(f"mapping file {path}: unknown setting(s) {', '.join(unknown_keys)}")
    columns = document.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise ImportInputError(f"mapping file {path} needs a [columns] section mapping fields to column names")
    unknown_fields = sorted(str(key) for key in columns if key not in FIELDS)
    if unknown_fields:
        raise ImportInputError(
            f"mapping file {path}: unknown field(s) {', '.join(unknown_fields)}; known fields are {', '.join(FIELDS)}"
        )
    if "order_no" not in columns:
        raise ImportInputError(f"mapping file {path} must map order_no (the order number column)")
    mapped: dict[str, tuple[str, ...]] = {}
    for key, value in columns.items():
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
            # YAML reads bare No / Yes / On / Off as booleans: say so, it is the usual cause.
            hint = " (put the column name in quotes)" if isinstance(value, bool | int | float) else ""
            raise ImportInputError(f"mapping file {path}: {key} must be a column name or a list of column names{hint}")
        mapped[key] = tuple(name.strip() for name in names)
    platform = str(document.get("platform", "generic")).strip()
    if not _PLATFORM.fullmatch(platform):
        raise ImportInputError(
            f"mapping file {path}: platform {platform!r} must be lower-case letters, digits or _ (at most 24)"
        )
    if platform in PRESETS:
        raise ImportInputError(
            f"mapping file {path}: platform {platform!r} has a built-in preset; use --platform {platform}"
        )
    grain = str(document.get("grain", ORDER))
    if grain not in (ORDER, LINE):
        raise ImportInputError(f"mapping file {path}: grain must be {ORDER!r} or {LINE!r}, got {grain!r}")
    summed = document.get("summed", [])
    if not isinstance(summed, list) or any(name not in FIELDS for name in summed):
        raise ImportInputError(f"mapping file {path}: summed must list fields, e.g. ['refund']")
    return Preset(
        name=f"mapping:{path.name}",
        platform=platform,
        grain=grain,
        columns=mapped,
        signature=tuple(names[0] for names in mapped.values()),
        summed=frozenset(summed),
    )
