"""Phone cells: what keys a profile and what stays a weak hint, with the reason."""

from __future__ import annotations

import random

import pytest

from base.phones import best_phone, classify_phone, normalise_mobile


@pytest.mark.parametrize(
    "cell",
    [
        "13800138000",
        " 13800138000 ",
        "+86 138 0013 8000",
        "0086-13800138000",
        "86-13800138000",
        "(+86)13800138000",
        "8613800138000",
        "１３８００１３８０００",  # full-width digits
        "13800138000.0",  # float damage without lost digits
        '="13800138000"',
        "'13800138000",
        "\t13800138000",
        "138-0013-8000",
    ],
)
def test_clean_mobiles_key_a_profile(cell: str) -> None:
    verdict = classify_phone(cell)
    assert verdict.is_key
    assert verdict.e164 == "+8613800138000"


@pytest.mark.parametrize(
    ("cell", "kind", "last4"),
    [
        ("138****8000", "masked", "8000"),
        ("138xxxx8000", "masked", "8000"),
        ("13800138000-1234", "virtual", None),
        ("13800138000转1234", "virtual", None),
        ("1.38001E+10", "sci_notation", None),
        ("$$密文", "ciphertext", None),
        ("#a8Xk2Lp9Qz3#", "ciphertext", None),
        ("4008123123", "landline", "3123"),
        ("010-12345678", "landline", "5678"),
        ("0571-88888888-123", "extension", "8888"),
        ("14012345678", "invalid", "5678"),  # 140 is not a mobile range
        ("abc", "invalid", None),
    ],
)
def test_unusable_numbers_are_hints_with_a_reason(cell: str, kind: str, last4: str | None) -> None:
    verdict = classify_phone(cell)
    assert not verdict.is_key
    assert verdict.e164 is None
    assert verdict.kind == kind
    assert verdict.last4 == last4


def test_masked_number_is_not_parsed_into_a_short_number() -> None:
    # phonenumbers drops the stars and calls "1388000" a possible number: the mask must win.
    assert classify_phone("138****8000").hint == "138****8000"


@pytest.mark.parametrize("cell", ["", "-", "--", "null", None])
def test_empty_cells(cell: str | None) -> None:
    assert classify_phone(cell).kind == "empty"


def test_best_phone_prefers_a_key_then_a_hint_with_digits() -> None:
    assert best_phone(["", "13900139000"]).e164 == "+8613900139000"
    assert best_phone(["-", "139****9000"]).kind == "masked"
    assert best_phone(["$$密文", "139****9000"]).last4 == "9000"


def test_normalise_mobile_for_typed_input() -> None:
    assert normalise_mobile("138 0013 8000") == "+8613800138000"
    assert normalise_mobile("138****8000") is None


@pytest.mark.parametrize(
    "cell",
    ["13800138000", "'13800138000", "13800138000.0", "'13800138000.0", "'12800138000", "12800138000.0",
     "'1380013800", "138001380000.0", "'138****8000", "1.38001E+10", "'+8613800138000"],
)  # fmt: skip
def test_the_fast_path_agrees_with_the_full_rules(cell: str) -> None:
    from base.phones import _classify_slow, clear_caches

    clear_caches()
    assert classify_phone(cell) == _classify_slow(cell)


def _spellings(rng: random.Random, count: int) -> list[str]:
    """Phone cells as exports and people write them: mobiles and near-mobiles with every prefix,
    grouping, Excel damage and suffix the fast path might wrongly take for a clean mobile."""
    prefixes = ["", "", "+86", "0086", "86", "86-", "+86 ", "+86-", "0086 ", "0086-", "(+86)", "+85", "+1 ", "8", "086"]
    cells = []
    for _ in range(count):
        head = rng.choice(["13", "14", "15", "16", "17", "18", "19", "12", "10", "11", "01", "02", "05"])
        digits = head + "".join(rng.choice("0123456789") for _ in range(rng.choice([9, 9, 9, 8, 10, 6])))
        if rng.random() < 0.5:  # grouped as people write it, 3-4-4 or otherwise
            cut1, cut2 = rng.choice([(3, 7), (3, 7), (4, 8), (3, 6), (2, 7)])
            sep = rng.choice([" ", "-", "  ", "- ", "\t"])
            digits = sep.join((digits[:cut1], digits[cut1:cut2], digits[cut2:]))
        cell = rng.choice(prefixes) + digits
        roll = rng.random()
        if roll < 0.1:
            cell += ".0"
        elif roll < 0.15:
            cell += "-" + str(rng.randint(1, 99999))
        elif roll < 0.2:
            cell = "'" + cell
        elif roll < 0.25:
            cell = cell[:3] + "****" + cell[7:]
        elif roll < 0.28:
            cell += "转" + str(rng.randint(1, 9999))
        elif roll < 0.3:
            cell = f'="{cell}"'
        cells.append(cell)
    return cells


@pytest.mark.parametrize("seed", range(4))
def test_the_fast_path_agrees_with_the_full_rules_on_random_spellings(seed: int) -> None:
    from base.phones import _classify_slow, clear_caches

    for cell in _spellings(random.Random(seed), 1_000):
        clear_caches()
        assert classify_phone(cell) == _classify_slow(cell.strip()), cell


def test_spellings_of_one_number_share_its_verdict_as_the_full_rules_give_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import base.phones
    from base.phones import _classify_slow, clear_caches

    # A cell cache this small empties every few cells: the verdicts then come from the numbers' cache.
    monkeypatch.setattr(base.phones, "_CACHE_LIMIT", 7)
    clear_caches()
    rng = random.Random(11)
    numbers = [f"13{rng.randrange(10**9):09d}" for _ in range(50)] + ["12800138000", "10000000000"]
    cells = [spelling.format(n) for n in numbers for spelling in ("{}", "'{}", "{}.0", " {} ", "+86 {}", "{}-12")]
    rng.shuffle(cells)
    for cell in cells * 2:
        assert classify_phone(cell) == _classify_slow(cell.strip()), cell
    clear_caches()


@pytest.mark.parametrize(
    "cell",
    ["+86 138 0013 8000", "0086-138-0013-8000", "86 13800138000", "+86-13800138000", "138 0013 8000", "138-0013-8000",
     "+86 138 0013 8000.0", "86 13800138000.0", "+86 138 0013 800", "+86 128 0013 8000", "+86 138 0013 8000-12",
     "+86 138 **** 8000", "010 1234 5678", "+86 10 1234 5678", "0086 138001380001"],
)  # fmt: skip
def test_the_fast_path_agrees_on_written_forms_of_a_mobile(cell: str) -> None:
    from base.phones import _classify_slow, clear_caches

    clear_caches()
    assert classify_phone(cell) == _classify_slow(cell)
