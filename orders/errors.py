"""The one error an import raises for bad input: the file as a whole cannot be imported."""

from __future__ import annotations


class ImportInputError(ValueError):
    """The file (or mapping, or platform choice) cannot be imported; the message says what to do.

    Raised before anything is written: an import either starts cleanly or writes nothing.
    """
