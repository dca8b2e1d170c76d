"""Password hashes: scrypt with a random salt per password, compared in constant time.

The parameters live in the stored string, so they can be raised later without breaking old hashes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from base.i18n import _

# n=2**15, r=8 costs about 32 MiB and a few tens of milliseconds: slow for a guesser, fine for a login.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAX_MEMORY = 128 * 1024 * 1024
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200


class PasswordPolicyError(ValueError):
    """A new password does not meet the rules; the message says which."""


def check_password_policy(password: str) -> None:
    """Refuse passwords too short to resist guessing, or absurdly long ones (hashing cost)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            _("the password must have at least %(count)d characters") % {"count": MIN_PASSWORD_LENGTH}
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            _("the password must have at most %(count)d characters") % {"count": MAX_PASSWORD_LENGTH}
        )
    if password.strip() != password:
        raise PasswordPolicyError(_("the password must not start or end with spaces"))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=_KEY_BYTES)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str) -> str:
    """A self-describing hash `scrypt$n$r$p$salt$key` of `password` with a fresh random salt."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches `stored`; a malformed stored hash never matches."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(_derive(password, salt, n, r, p), expected)


@functools.cache
def dummy_hash() -> str:
    """A real hash of a random password, made once.

    Checking an unknown user name against it costs as much as a real check, so response time does not
    reveal which names exist.
    """
    return hash_password(secrets.token_urlsafe(24))
