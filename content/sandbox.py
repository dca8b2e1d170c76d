"""Template text rendered in Jinja2's sandbox, and the static check of which fields a text uses.

Editors' text never reaches Python objects: the context holds plain dicts of strings and numbers, and
the sandbox refuses attribute tricks (`__class__`...). Fields are checked before saving, so an unknown
field is an editor's error at save time, not a crash at send time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from content.fields import FIELDS, NAMESPACES, RenderContext

# autoescape off: these are chat messages, not HTML. StrictUndefined: a field the checks missed fails
# loudly instead of rendering as an empty string.
_ENV = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)  # noqa: S701


class RenderError(ValueError):
    """A template could not be rendered (a bug the save-time checks should have caught, or a limit)."""


@dataclass(frozen=True)
class FieldUse:
    path: str  # "profile.name"
    line: int  # 1-based line inside the text


@dataclass(frozen=True)
class SourceProblem:
    message: str
    line: int


@dataclass(frozen=True)
class SourceReport:
    """What a template text uses and what is wrong with it."""

    fields: tuple[FieldUse, ...]
    problems: tuple[SourceProblem, ...]

    @property
    def field_paths(self) -> set[str]:
        return {use.path for use in self.fields}


def _unknown(name: str) -> str:
    return f"unknown field {name} (known: {', '.join(FIELDS)})"


def inspect_source(source: str) -> SourceReport:
    """Parse and compile `source`; list the fields it uses and every syntax or unknown-field problem."""
    try:
        tree = _ENV.parse(source)
        _compile(source)  # compiling also finds unknown filters and tests
    except TemplateSyntaxError as error:
        return SourceReport((), (SourceProblem(f"template syntax: {error.message}", error.lineno or 1),))
    uses: list[FieldUse] = []
    problems: list[SourceProblem] = []
    free = meta.find_undeclared_variables(tree)
    qualified: set[int] = set()
    accesses: list[nodes.Getattr | nodes.Getitem] = [*tree.find_all(nodes.Getattr), *tree.find_all(nodes.Getitem)]
    for node in accesses:
        target = node.node
        if not isinstance(target, nodes.Name) or target.name not in NAMESPACES or target.name not in free:
            continue
        qualified.add(id(target))
        if isinstance(node, nodes.Getattr):
            attribute: object = node.attr
        else:
            attribute = node.arg.value if isinstance(node.arg, nodes.Const) else None
        if not isinstance(attribute, str):
            message = f"{target.name}[...] must name a field, e.g. {target.name}.name"
            problems.append(SourceProblem(message, node.lineno))
            continue
        path = f"{target.name}.{attribute}"
        if path in FIELDS:
            uses.append(FieldUse(path, node.lineno))
        else:
            problems.append(SourceProblem(_unknown(path), node.lineno))
    for name_node in tree.find_all(nodes.Name):
        name = name_node.name
        if name_node.ctx != "load" or name not in free or id(name_node) in qualified:
            continue
        alone = f"use a field such as {name}.<name>, not {name} alone"
        message = alone if name in NAMESPACES else _unknown(name)
        problems.append(SourceProblem(message, name_node.lineno))
    return SourceReport(tuple(uses), tuple(problems))


@lru_cache(maxsize=2048)
def _compile(source: str) -> Template:
    # Published versions are immutable, so the same text is compiled once per process.
    return _ENV.from_string(source)


def render_source(source: str, context: RenderContext) -> str:
    """Render one text with a context whose missing values were already replaced by fallbacks."""
    try:
        return _compile(source).render(**context)
    except TemplateSyntaxError as error:
        raise RenderError(f"template syntax (line {error.lineno}): {error.message}") from None
    except (SecurityError, UndefinedError, TypeError, ValueError, ArithmeticError) as error:
        raise RenderError(f"cannot render: {error}") from None


def is_plain(source: str) -> bool:
    """Whether a text has no template syntax at all (ids, fallbacks)."""
    return "{{" not in source and "{%" not in source and "{#" not in source
