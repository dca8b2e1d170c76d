"""Phone cells: what keys a profile and what stays a weak hint, with the reason."""

from __future__ import annotations

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
    from base.phones import _cache, _classify_slow

    _cache.clear()
    assert classify_phone(cell) == _classify_slow(cell)
