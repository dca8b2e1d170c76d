"""The one place that decides what a phone-number cell is worth.

Marketplace exports hand us phone cells in every state of damage: masked (`138****8000`), relayed
through a privacy number with an extension (`13800138000-1234`, `...转1234`), turned into ciphertext
placeholders (`$$密文`), mangled by Excel (`13800138000.0`, `1.38001E+10`, `="138..."`), written with
full-width digits or any of the `+86` prefixes. Only a valid mobile number with no mask and no
extension may key a profile; everything else is kept on the order as a *weak hint* with its reason,
and never creates or merges a profile.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import PhoneNumberType

# Kinds of verdicts. Only MOBILE keys a profile.
MOBILE: Final = "mobile"
EMPTY: Final = "empty"
MASKED: Final = "masked"
VIRTUAL: Final = "virtual"  # a shared privacy host number plus an extension: many buyers, one number
EXTENSION: Final = "extension"  # any other number with an extension
CIPHERTEXT: Final = "ciphertext"
SCI_NOTATION: Final = "sci_notation"
LANDLINE: Final = "landline"  # fixed lines, 400/800 service numbers: kept, never keys
INVALID: Final = "invalid"

HINT_KINDS: Final = (MASKED, VIRTUAL, EXTENSION, CIPHERTEXT, SCI_NOTATION, LANDLINE, INVALID)


@dataclass(frozen=True, slots=True)
class PhoneVerdict:
    """What a phone cell is: an E.164 key (kind `mobile`) or a weak hint with the reason in `kind`."""

    kind: str
    e164: str | None = None
    # The cleaned text kept on an order for humans (masked or relay text, landline in E.164); "" if none.
    hint: str = ""
    # Last four digits when the cell shows them, for matching a hint to a known profile by a person.
    last4: str | None = None

    @property
    def is_key(self) -> bool:
        """True only for a clean, valid mobile number: the one thing that may key a profile."""
        return self.kind == MOBILE


# The library's own pattern for Chinese mobile numbers, so the fast path agrees with the slow path.
_CN_METADATA = phonenumbers.PhoneMetadata.metadata_for_region("CN")
assert _CN_METADATA is not None and _CN_METADATA.mobile is not None
_CN_MOBILE = re.compile(str(_CN_METADATA.mobile.national_number_pattern))
_CLEAN_MOBILE = re.compile(r"1[3-9]\d{9}")
_EMPTY_TEXTS = frozenset({"", "-", "--", "—", "null", "none", "nan", "n/a", "无", "暂无"})
_SCI = re.compile(r"[+-]?\d+(?:\.\d+)?[eE][+-]?\d+")
_FLOAT_DAMAGE = re.compile(r"(\+?\d+)\.0+")
_MASK_CHARS = re.compile(r"[*＊xX×]")
_MASKED_SHAPE = re.compile(r"^[\d\s+()-]*[*xX×]{2,}[\d\s-]*$")
_CIPHER_MARKS = ("$", "密文", "#", "加密")
_EXPLICIT_EXTENSION = re.compile(r"^(?P<head>.+?)\s*(?:转|分机|ext\.?|x|,|;)\s*(?P<ext>\d{1,6})$", re.IGNORECASE)
_DASH_EXTENSION = re.compile(r"^(?P<head>.+)-(?P<ext>\d{1,6})$")
_PREFIX = re.compile(r"^(?:\(\+?86\)|（\+?86）|\+86|0086|86-|86(?=1\d{10}$))")
_SEPARATORS = re.compile(r"[\s\-()（）.]")
# A mobile as people write it, for the fast path: its groups, with the prefix and separators left out.
_SPELLED_MOBILE = re.compile(r"(?:\+86|0086|86)?[ -]?(1[3-9][0-9])[ -]?([0-9]{4})[ -]?([0-9]{4})")
_CACHE_LIMIT = 50_000  # bounded: peak memory must not grow with the file
_cache: dict[str, PhoneVerdict] = {}
# The mobile verdict of each 11-digit number the fast path took: one buyer's number comes in several
# spellings (`'138...`, `138....0`), which share it. A file with more distinct cells than `_CACHE_LIMIT`
# empties `_cache` again and again, and this keeps its misses from parsing each number afresh.
_mobiles: dict[str, PhoneVerdict] = {}
_NO_PHONE: Final = PhoneVerdict(EMPTY)


def _last4(text: str) -> str | None:
    digits = re.sub(r"\D", "", text)
    tail = re.search(r"(\d{4})\s*$", text)
    if tail is None or len(digits) < 4:
        return None
    return tail.group(1)


def _strip_guards(text: str) -> str:
    """Undo Excel guards: `="..."`, a leading apostrophe or tab, surrounding quotes."""
    text = text.strip()
    if text.startswith('="') and text.endswith('"'):
        text = text[2:-1]
    return text.lstrip("'\t").strip().strip('"').strip()


def _classify_number(text: str) -> PhoneVerdict:
    """Classify a number already free of masks, ciphertext and extensions."""
    compact = _SEPARATORS.sub("", _PREFIX.sub("", text.replace(" ", "")))
    if _CLEAN_MOBILE.fullmatch(compact) and _CN_MOBILE.fullmatch(compact):
        return PhoneVerdict(MOBILE, "+86" + compact, "", compact[-4:])
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return PhoneVerdict(INVALID, None, text[:40], _last4(text))
    if not phonenumbers.is_valid_number(parsed):
        return PhoneVerdict(INVALID, None, text[:40], _last4(text))
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if parsed.extension:
        return PhoneVerdict(EXTENSION, None, text[:40], _last4(e164))
    if phonenumbers.number_type(parsed) == PhoneNumberType.MOBILE and parsed.country_code == 86:
        return PhoneVerdict(MOBILE, e164, "", e164[-4:])
    if phonenumbers.number_type(parsed) == PhoneNumberType.MOBILE:
        # A foreign mobile is a real person, but our keys are Chinese mobiles (SMS proof goes there).
        return PhoneVerdict(INVALID, None, e164, e164[-4:])
    return PhoneVerdict(LANDLINE, None, e164, e164[-4:])


def _classify_slow(raw: str) -> PhoneVerdict:
    # NFKC turns full-width digits, plus signs and brackets into ASCII.
    text = _strip_guards(unicodedata.normalize("NFKC", raw))
    if text.lower() in _EMPTY_TEXTS:
        return PhoneVerdict(EMPTY)
    if any(mark in text for mark in _CIPHER_MARKS) or (len(text) > 24 and not text.isdigit()):
        return PhoneVerdict(CIPHERTEXT, None, text[:40], None)
    # Masks first: the library would silently drop the stars and find a short "possible" number.
    if _MASK_CHARS.search(text) and _MASKED_SHAPE.match(text):
        return PhoneVerdict(MASKED, None, text[:40], _last4(text))
    if _SCI.fullmatch(text):
        # A float in scientific notation has lost digits: any number we derived would be a guess.
        return PhoneVerdict(SCI_NOTATION, None, text[:40], None)
    damaged = _FLOAT_DAMAGE.fullmatch(text)
    if damaged:
        text = damaged.group(1)
    for pattern in (_EXPLICIT_EXTENSION, _DASH_EXTENSION):
        match = pattern.match(text)
        if match is None:
            continue
        host = _classify_number(match.group("head"))
        if host.kind == MOBILE:
            # The digits belong to the relay host and its extension, not to the buyer: no last four.
            return PhoneVerdict(VIRTUAL, None, text[:40], None)
        if host.kind == LANDLINE:
            return PhoneVerdict(EXTENSION, None, text[:40], host.last4)
    if not re.search(r"\d", text):
        return PhoneVerdict(INVALID, None, text[:40], None)
    return _classify_number(text)


def classify_phone(raw: str | None) -> PhoneVerdict:
    """Clean and classify one phone cell; cheap for clean mobiles, cached for the rest."""
    if raw is None:
        return PhoneVerdict(EMPTY)
    stripped = raw.strip()
    # Repeat buyers repeat their cells: the cache answers before any pattern runs.
    cached = _cache.get(stripped)
    if cached is None:
        # Fast path: most cells are plain 11-digit mobiles, or carry Excel's two commonest damages to
        # one, a leading apostrophe or a float's ".0" (the slow path gives the same verdict for them).
        float_damaged = stripped[:1] != "'" and stripped.endswith(".0")
        core = stripped[1:] if stripped[:1] == "'" else stripped[:-2] if float_damaged else stripped
        if len(core) != 11 and not float_damaged:
            # The written forms of a mobile: +86/0086/86 before it, spaces or dashes between its 3-4-4
            # groups. Anything else (masks, extensions, landlines, a float's ".0" after such a form,
            # which the full rules read differently) takes the full rules.
            spelled = _SPELLED_MOBILE.fullmatch(core)
            core = "".join(spelled.groups()) if spelled else ""
        if len(core) == 11:
            cached = _mobiles.get(core)
            if cached is None and _CLEAN_MOBILE.fullmatch(core) and _CN_MOBILE.fullmatch(core):
                cached = _remember(_mobiles, core, PhoneVerdict(MOBILE, "+86" + core, "", core[-4:]))
        if cached is None:
            cached = _classify_slow(stripped)
        _remember(_cache, stripped, cached)
    return cached


def _remember(cache: dict[str, PhoneVerdict], key: str, verdict: PhoneVerdict) -> PhoneVerdict:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = verdict
    return verdict


def clear_caches() -> None:
    """Forget every cached verdict (tests: so that a cached answer cannot hide a wrong one)."""
    _cache.clear()
    _mobiles.clear()


def best_phone(cells: list[str]) -> PhoneVerdict:
    """The most useful verdict among several phone columns: a key if any, else the hint with digits."""
    best = _NO_PHONE
    for cell in cells:
        verdict = classify_phone(cell)
        if verdict.is_key:
            return verdict
        if best.kind == EMPTY or (best.last4 is None and verdict.last4 is not None and verdict.kind != EMPTY):
            best = verdict
    return best


def normalise_mobile(raw: str) -> str | None:
    """E.164 of a number a person typed (binding, console search), or None when it cannot key a profile."""
    verdict = classify_phone(raw)
    return verdict.e164 if verdict.is_key else None


__all__ = [
    "CIPHERTEXT",
    "EMPTY",
    "EXTENSION",
    "HINT_KINDS",
    "INVALID",
    "LANDLINE",
    "MASKED",
    "MOBILE",
    "SCI_NOTATION",
    "VIRTUAL",
    "PhoneVerdict",
    "best_phone",
    "classify_phone",
    "normalise_mobile",
]
