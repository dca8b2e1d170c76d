"""Texts the engine stores in English, shown in the reader's language.

The engine writes a push's reason, a run's end reason, an import's failure or a content check's finding
in English: that is what logs, the CLI and the rejects CSV read, and it stays so in the database. The
pages show `{{ push.reason|engine_text }}`: a known phrase becomes its catalog message, and a phrase
built with parameters ("gave up after 3 attempts: …") is matched by its shape and rebuilt from the
translated message with the same parameters, an inner reason translated in turn. Text of no known shape
is shown as stored: never an error, never a blank.

The phrases live in `console.engine_phrases` (pushes, runs, the scheduler, mass sends, WeChat, imports)
and `console.content_phrases` (the checks of templates, journeys and menus).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from base.i18n import _
from console.content_phrases import CONTENT_EXACT, CONTENT_SHAPES
from console.engine_phrases import ENGINE_EXACT, ENGINE_SHAPES, FILE_SHAPES, REJECT_REASONS
from console.phrasebook import Shape, nested

# An inner reason nests once or twice ("…; expired before it could be sent" inside "gave up after …").
_MAX_DEPTH = 6
EXACT: Mapping[str, str] = {**ENGINE_EXACT, **CONTENT_EXACT}
# The first shape matching the whole text wins: the file shapes, which begin with any name, come last.
SHAPES: tuple[Shape, ...] = (*ENGINE_SHAPES, *CONTENT_SHAPES, *FILE_SHAPES)


def _translate(text: str, depth: int) -> str | None:
    """`text` by an exact phrase or by the first shape matching all of it; None when nothing matches."""
    found = EXACT.get(text)
    if found is not None:
        return _(found)
    for one in SHAPES:
        matched = one.pattern.fullmatch(text)
        if matched is None:
            continue
        values = {}
        for name, value in matched.groupdict(default="").items():
            convert = one.params.get(name, str)
            values[name] = _shown(value, depth + 1) if convert is nested else convert(value)
        return _(one.message) % values
    return None


def _shown(text: str, depth: int) -> str:
    if depth > _MAX_DEPTH:
        return text
    try:
        found = _translate(text.strip(), depth)
    except (KeyError, ValueError, TypeError):
        # A catalog entry whose placeholders do not fit its shape: the stored English beats no text.
        return text
    return text if found is None else found


def engine_text(text: object) -> str:
    """A stored engine text in the reader's language; the text as stored when its shape is unknown."""
    return "" if text is None else _shown(str(text), 0)


def reject_reason(code: object) -> str:
    """An import's reject code (`bad_money`) in the reader's words; any other reason as an engine text."""
    text = "" if code is None else str(code)
    name = REJECT_REASONS.get(text)
    return _(name) if name is not None else engine_text(text)


FILTERS: dict[str, Callable[[object], str]] = {"engine_text": engine_text, "reject_reason": reject_reason}
