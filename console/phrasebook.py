"""How the console's phrase tables describe engine texts: exact phrases, and shapes with parameters.

A table maps a stored English phrase to its catalog message (marked with N_), and lists Shapes for the
phrases the engine builds with parameters. console.engine_text reads the tables; this module only says
what an entry is, so the tables and the translator do not import each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from console.labels import LABELS, label

Param = Callable[[str], str]
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class Shape:
    """A parameterised engine text: its pattern, the message it becomes, and how each parameter is shown.

    `message` names each group of `pattern` as `%(group)s`; a parameter without an entry in `params` is
    kept as stored (a name, a number, WeChat's own words).
    """

    pattern: re.Pattern[str]
    message: str
    params: Mapping[str, Param] = field(default_factory=dict)


def shape(pattern: str, message: str, **params: Param) -> Shape:
    """A Shape matching the whole of a stored text with `pattern`."""
    return Shape(re.compile(pattern, re.S), message, params)


def nested(value: str) -> str:
    """Marks a parameter that is itself an engine text ("gave up after 3 attempts: <reason>").

    console.engine_text translates such a parameter in turn; called directly it keeps the value.
    """
    return value


def labelled(group: str) -> Param:
    """A parameter that is a code of `group` in console.labels ("follower is unsubscribed")."""
    if group not in LABELS:
        raise KeyError(group)
    return lambda value: label(value, group)


def listed(value: str) -> str:
    """A list the engine writes "'a', 'b' or 'c'" (pydantic) or "a, b", as "a / b / c" in any language."""
    items = [item.strip().strip("'\"") for item in re.split(r",\s*|\s+or\s+", value)]
    return " / ".join(item for item in items if item) or value


def placeholders(message: str) -> set[str]:
    """The `%(name)s` placeholders of a message (tests hold them to the pattern's groups)."""
    return set(_PLACEHOLDER.findall(message))
