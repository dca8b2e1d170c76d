"""Phone numbers at rest.

With `SCRM_DATA_KEY` set, a number is stored encrypted (AES-256-GCM) and looked up through a keyed
hash (HMAC-SHA256), so a copied database file reveals neither. Without a key both are the E.164 number
in clear, and the product says so once at start.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_SEALED_PREFIX = "v1:"


class PhoneVault:
    def __init__(self, key: bytes = b"") -> None:
        if key and len(key) != 32:
            # Settings decode SCRM_DATA_KEY from either base64 alphabet; what arrives here is the raw key.
            raise ValueError(f"the data key (SCRM_DATA_KEY, decoded) must be 32 bytes, got {len(key)}")
        self._key = key
        # Separate sub-keys so the lookup hash and the cipher never share key material.
        self._mac_key = hashlib.sha256(b"scrm-lookup" + key).digest() if key else b""
        self._aead = AESGCM(hashlib.sha256(b"scrm-seal" + key).digest()) if key else None
        self._lookup_cache: dict[str, str] = {}

    @property
    def encrypted(self) -> bool:
        return self._aead is not None

    def lookup_key(self, e164: str) -> str:
        """The indexed, unique key for a number: deterministic, so equal numbers find each other."""
        if not self._mac_key:
            return e164
        cached = self._lookup_cache.get(e164)
        if cached is None:
            cached = hmac.new(self._mac_key, e164.encode(), hashlib.sha256).hexdigest()
            if len(self._lookup_cache) < 1_000_000:
                self._lookup_cache[e164] = cached
        return cached

    def seal(self, e164: str) -> str:
        if self._aead is None:
            return e164
        nonce = os.urandom(12)
        return _SEALED_PREFIX + base64.b64encode(nonce + self._aead.encrypt(nonce, e164.encode(), None)).decode()

    def unseal(self, sealed: str) -> str:
        if not sealed.startswith(_SEALED_PREFIX):
            return sealed
        if self._aead is None:
            raise ValueError("this database holds encrypted phone numbers: set SCRM_DATA_KEY to read them")
        blob = base64.b64decode(sealed[len(_SEALED_PREFIX) :])
        return self._aead.decrypt(blob[:12], blob[12:], None).decode()

    def seal_bytes(self, data: bytes) -> bytes:
        """Bulk data (an order's exported cells) as nonce + ciphertext: no text encoding, so no base64."""
        if self._aead is None:
            raise ValueError("sealing needs SCRM_DATA_KEY")
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, None)

    def unseal_bytes(self, blob: bytes) -> bytes:
        """What `seal_bytes` sealed."""
        if self._aead is None:
            raise ValueError("this database holds encrypted data: set SCRM_DATA_KEY to read it")
        return self._aead.decrypt(blob[:12], blob[12:], None)


def mask_phone(number: str) -> str:
    """`+8613800138000` or `13800138000` -> `138****8000`; anything short is masked whole."""
    digits = number[3:] if number.startswith("+86") else number.lstrip("+")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def erasure_hash(identifier: str, data_key: bytes) -> str:
    """Keyed hash recorded in `erasures`: tells whether a number was erased without storing it."""
    key = hashlib.sha256(b"scrm-erasure" + data_key).digest()
    return hmac.new(key, identifier.encode("utf-8"), hashlib.sha256).hexdigest()
