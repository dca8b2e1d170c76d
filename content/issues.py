"""Validation findings that name where the problem is: the file or template, the line and the field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    from content.yamlsource import SourceMap


@dataclass(frozen=True)
class Issue:
    """One problem found in content. `line` is 1-based (in the YAML file when known, else in the field)."""

    where: str  # a file path, or "template welcome_text" / "journey onboarding"
    field: str  # dotted path inside the document: "content", "articles[0].url", "steps[2].template"
    message: str
    line: int | None = None

    def __str__(self) -> str:
        location = f"{self.where}:{self.line}" if self.line is not None else self.where
        return f"{location}: {self.field}: {self.message}" if self.field else f"{location}: {self.message}"

    def moved(self, where: str, line: int | None) -> Issue:
        return replace(self, where=where, line=line)


class ContentError(ValueError):
    """Content was refused; `issues` lists every problem so an editor can fix them all at once."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = list(issues)
        summary = "; ".join(str(issue) for issue in self.issues[:5])
        more = f" (and {len(self.issues) - 5} more)" if len(self.issues) > 5 else ""
        super().__init__(summary + more)


def field_path(loc: Iterable[str | int]) -> str:
    """("articles", 0, "url") -> "articles[0].url"."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "is not a known key (a typo?)",
}


def issues_from_pydantic(
    error: ValidationError,
    where: str,
    *,
    source: SourceMap | None = None,
    base: tuple[str | int, ...] = (),
    tags: frozenset[str] = frozenset(),
) -> list[Issue]:
    """Turn a pydantic error into issues naming each field (and its file line when `source` is given).

    `tags` are the discriminator values pydantic inserts into locations of tagged unions
    (("steps", 2, "send", "template")); they are not part of the document, so they are dropped.
    """
    issues: list[Issue] = []
    details = error.errors()
    locations = [detail["loc"] for detail in details]
    for detail in details:
        # "steps: should have at least 1 item" is noise when its items were refused one by one.
        if detail["type"] == "too_short" and any(
            len(other) > len(detail["loc"]) and other[: len(detail["loc"])] == detail["loc"] for other in locations
        ):
            continue
        loc = tuple(part for part in detail["loc"] if not (isinstance(part, str) and part in tags))
        kind = detail["type"]
        message = _FRIENDLY.get(kind, str(detail["msg"]))
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if kind in {"union_tag_invalid", "union_tag_not_found"}:
            # Name the discriminating key itself ("kind", "type") and list what it may be.
            discriminator = str(detail.get("ctx", {}).get("discriminator", "kind")).strip("'")
            loc = (*loc, discriminator)
            message = f"must be one of {', '.join(sorted(tags))}"
        path = (*base, *loc)
        line = source.line_of(path) if source is not None else None
        issues.append(Issue(where, field_path(loc), message, line))
    return issues
