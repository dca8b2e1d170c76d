from __future__ import annotations

import pytest

from base.vault import PhoneVault, mask_phone


def test_without_key_numbers_are_clear_and_say_so() -> None:
    vault = PhoneVault()
    assert not vault.encrypted
    assert vault.lookup_key("+8613800138000") == "+8613800138000"
    assert vault.seal("+8613800138000") == "+8613800138000"


def test_with_key_nothing_readable_is_stored() -> None:
    vault = PhoneVault(b"k" * 32)
    sealed = vault.seal("+8613800138000")
    key = vault.lookup_key("+8613800138000")
    assert "13800138000" not in sealed and "13800138000" not in key
    assert vault.unseal(sealed) == "+8613800138000"
    assert vault.seal("+8613800138000") != sealed  # a fresh nonce each time
    assert PhoneVault(b"k" * 32).lookup_key("+8613800138000") == key  # deterministic across processes
    assert PhoneVault(b"j" * 32).lookup_key("+8613800138000") != key


def test_reading_encrypted_numbers_without_the_key_is_a_clear_error() -> None:
    sealed = PhoneVault(b"k" * 32).seal("+8613800138000")
    with pytest.raises(ValueError, match="SCRM_DATA_KEY"):
        PhoneVault().unseal(sealed)


def test_masking() -> None:
    assert mask_phone("+8613800138000") == "138****8000"
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("123") == "***"


def test_a_key_of_the_wrong_size_is_refused_with_its_size() -> None:
    with pytest.raises(ValueError, match=r"SCRM_DATA_KEY.*32 bytes, got 16"):
        PhoneVault(b"k" * 16)
