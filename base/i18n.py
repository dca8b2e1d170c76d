"""Languages of the web pages: gettext catalogs compiled from their .po files, and the one in use.

Catalogs are compiled from the .po files with Babel's API when first asked for, once per process, and
kept in memory. No .mo file is read or committed: a plain clone (or an installed wheel, which carries the
.po files as package data) works without running `pybabel compile`, and a compiled file can never be
older than the text it came from. Parsing the few hundred messages takes a few milliseconds.

The edges (console, sandbox) choose a language per request and call `use_translations`; the functions
`gettext`, `ngettext` and `N_` below then answer in it. Outside a request (the CLI, unit tests) no
catalog is active and every message stays the English it is written in.
"""

from __future__ import annotations

import functools
import gettext as stdlib_gettext
import io
from contextvars import ContextVar
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

# Simplified Chinese is what brand operators in China read; English is the language the code is written in.
DEFAULT_LOCALE = "zh_CN"
LOCALES = ("zh_CN", "en")
# What the pages' <html lang> says for each locale (BCP 47 uses a hyphen).
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
# Each language's own name, for the selector: a person who cannot read the current one still finds theirs.
NATIVE_NAMES = {"zh_CN": "中文", "en": "English"}

_active: ContextVar[NullTranslations | None] = ContextVar("scrm_translations", default=None)


def normalise_locale(value: str | None) -> str | None:
    """`zh-CN`, `zh_cn`, `zh-Hans` or `en-GB` as one of LOCALES; None when it is none of them."""
    if not value:
        return None
    try:
        parsed = Locale.parse(value.strip().replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    if parsed.language == "zh":
        # Traditional Chinese readers get Simplified rather than English: closer to what they read.
        return "zh_CN"
    if parsed.language == "en":
        return "en"
    return None


def negotiate(accept_language: str) -> str | None:
    """The best of LOCALES for an Accept-Language header (weights honoured), or None when none fits."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if weight > 0 and tag:
            ranked.append((-weight, position, tag))
    for _weight, _position, tag in sorted(ranked):
        found = normalise_locale(tag)
        if found is not None:
            return found
    return None


@functools.cache
def load_translations(directory: Path, locale: str, domain: str = "messages") -> NullTranslations:
    """The catalog `directory/<locale>/LC_MESSAGES/<domain>.po`, compiled in memory (fuzzy entries left out)."""
    path = directory / locale / "LC_MESSAGES" / f"{domain}.po"
    if not path.is_file():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=locale, domain=domain)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled, domain=domain)


def use_translations(translations: NullTranslations) -> None:
    """Answer in `translations` for the rest of this task (an aiohttp request runs in its own task)."""
    _active.set(translations)


def gettext(message: str) -> str:
    """`message` in the language of the current request; the English as written outside one."""
    active = _active.get()
    return message if active is None else active.gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for `count`, in the language of the current request."""
    active = _active.get()
    if active is None:
        return stdlib_gettext.NullTranslations().ngettext(singular, plural, count)
    return active.ngettext(singular, plural, count)


def N_(message: str) -> str:  # noqa: N802 - the name pybabel extracts by default
    """Marks a message for the catalog where it is defined; it is translated where it is shown."""
    return message


_ = gettext
