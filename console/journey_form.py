"""The journey editor's form: a journey document to fields and back, and validation issues per field.

The form is flat HTML: journey-level fields are named by their document path (`trigger.kind`,
`reentry.days`), each step row by `s<row>.<path>` (`s2.condition.hours`). A row with no id and no type
is empty and left out (the editor always shows one, to add a step); a row marked `delete` is dropped;
rows are ordered by their `order` number, so a step moves by changing it. The document is checked by
content.journey_checks.validate_journey, the check `scrm content validate` runs, and each issue is put
back next to the field it names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.engine_text import engine_text
from content.issues import Issue
from content.model import JourneyDefinition

STEP_FIELDS = (
    "template", "expires_after", "coupon_pool", "store_link", "next", "duration", "until",
    "condition.kind", "condition.values", "condition.step", "condition.hours", "then", "else",
)  # fmt: skip
_STEP_PATH = re.compile(r"^steps\[(?P<index>\d+)\](?P<rest>.*)$")
TRIGGER_KINDS = ("followed", "followed_scene", "phone_bound", "first_purchase", "repeat_purchase",
                 "no_purchase", "segment_entered")  # fmt: skip
GOAL_KINDS = ("", "purchase", "phone_bound", "segment_entered", "clicked")
CONDITION_KINDS = ("has_purchased", "segment", "tag", "channel", "clicked")
STEP_TYPES = ("send", "wait", "branch", "exit")
REENTRY_POLICIES = ("never", "after_days", "always")


@dataclass
class StepRow:
    """One row of the step table: its position in the form and its fields as typed."""

    row: int
    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "")


@dataclass
class JourneyForm:
    """The editor's fields as typed, and the problems found in them (field name -> messages)."""

    values: dict[str, str] = field(default_factory=dict)
    steps: list[StepRow] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def add_error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    @property
    def all_errors(self) -> list[tuple[str, str]]:
        return [(name, message) for name, messages in self.errors.items() for message in messages]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def form_from_definition(definition: JourneyDefinition | Mapping[str, Any], *, blank_rows: int = 1) -> JourneyForm:
    """The fields showing a journey (a definition, or a stored document)."""
    doc = definition.to_doc() if isinstance(definition, JourneyDefinition) else dict(definition)
    form = JourneyForm()
    for key in ("name", "title", "description"):
        form.values[key] = _text(doc.get(key))
    for group in ("trigger", "goal", "reentry", "send_window"):
        for key, value in dict(doc.get(group) or {}).items():
            form.values[f"{group}.{key}"] = _text(value)
    for number, step in enumerate(doc.get("steps") or []):
        values = {"id": _text(step.get("id")), "type": _text(step.get("type")), "order": str(number + 1)}
        for name in STEP_FIELDS:
            head, _dot, tail = name.partition(".")
            value = (step.get(head) or {}).get(tail) if tail else step.get(head)
            values[name] = _text(value)
        form.steps.append(StepRow(number, values))
    add_blank_rows(form, blank_rows)
    return form


def add_blank_rows(form: JourneyForm, count: int) -> None:
    start = max((row.row for row in form.steps), default=-1) + 1
    order = len(form.steps)
    for offset in range(count):
        form.steps.append(StepRow(start + offset, {"order": str(order + offset + 1)}))


def form_from_post(post: Mapping[str, Any]) -> JourneyForm:
    """The fields as submitted (strings, stripped)."""
    form = JourneyForm()
    rows: dict[int, dict[str, str]] = {}
    for key, raw in post.items():
        value = str(raw).strip() if isinstance(raw, str) else ""
        if key.startswith("s") and "." in key and key[1 : key.index(".")].isdigit():
            row, name = int(key[1 : key.index(".")]), key[key.index(".") + 1 :]
            rows.setdefault(row, {})[name] = value
        else:
            form.values[key] = value
    for row in sorted(rows):
        form.steps.append(StepRow(row, rows[row]))
    return form


def _order(row: StepRow) -> tuple[float, int]:
    try:
        return float(row.get("order")), row.row
    except ValueError:
        return float(row.row + 1), row.row


def kept_rows(form: JourneyForm) -> list[StepRow]:
    """The rows that become steps, in their order."""
    kept = [r for r in form.steps if r.get("delete") != "on" and (r.get("id") or r.get("type"))]
    return sorted(kept, key=_order)


def document(form: JourneyForm, *, name: str | None = None, enabled: bool = True) -> tuple[dict[str, Any], list[int]]:
    """The journey document the form describes, and the form row of each of its steps."""
    doc: dict[str, Any] = {"name": name if name is not None else form.get("name"), "enabled": enabled}
    for key in ("title", "description"):
        if form.get(key):
            doc[key] = form.get(key)
    doc["trigger"] = _group(form, "trigger", ("kind", "scene", "days", "segment"))
    if form.get("goal.kind"):
        doc["goal"] = _group(form, "goal", ("kind", "segment", "step", "link"))
    doc["reentry"] = _group(form, "reentry", ("policy", "days"))
    doc["send_window"] = _group(form, "send_window", ("quiet_start", "quiet_end"))
    rows = kept_rows(form)
    doc["steps"] = [_step(row) for row in rows]
    return doc, [row.row for row in rows]


def _group(form: JourneyForm, group: str, keys: Sequence[str]) -> dict[str, Any]:
    return {key: form.get(f"{group}.{key}") for key in keys if form.get(f"{group}.{key}")}


def _step(row: StepRow) -> dict[str, Any]:
    step: dict[str, Any] = {"id": row.get("id"), "type": row.get("type")}
    kind = row.get("type")
    wanted: tuple[str, ...] = ()
    if kind == "send":
        wanted = ("template", "expires_after", "coupon_pool", "store_link", "next")
    elif kind == "wait":
        wanted = ("duration", "until", "next")
    elif kind == "branch":
        wanted = ("then", "else")
        condition: dict[str, Any] = {"kind": row.get("condition.kind")}
        if row.get("condition.values"):
            condition["values"] = [
                v.strip() for v in row.get("condition.values").replace("，", ",").split(",") if v.strip()
            ]
        for key in ("step", "hours"):
            if row.get(f"condition.{key}"):
                condition[key] = row.get(f"condition.{key}")
        step["condition"] = condition
    for key in wanted:
        if row.get(key):
            step[key] = row.get(key)
    return step


def place_issues(form: JourneyForm, issues: Sequence[Issue], rows: Sequence[int]) -> None:
    """Put each issue next to the field it names (`steps[2].condition.hours` -> `s<row>.condition.hours`)."""
    for issue in issues:
        name = issue.field
        found = _STEP_PATH.match(name)
        if found:
            index = int(found["index"])
            rest = found["rest"].lstrip(".")
            row = rows[index] if index < len(rows) else index
            name = f"s{row}.{rest}" if rest else f"s{row}"
        form.add_error(name or "journey", engine_text(issue.message))
