"""A per-process generation number of content: bumped on every load, so caches know to refresh."""

from __future__ import annotations

import itertools

_counter = itertools.count(1)
_generation = 0


def notify_content_changed() -> None:
    """Call after content was written in this process (loads and console saves do)."""
    global _generation
    _generation = next(_counter)


def content_generation() -> int:
    return _generation
