"""Tokens of tracked links (`/l/<token>`): what was delivered to whom, signed, verified without the database.

A token is 21 bytes of claim and a 12-byte HMAC-SHA256 tag, in URL-safe base64 (44 characters):

    version (1) | kind (1: p push, m mass send, r reply) | delivery id (8) | follower id (4, 0 = nobody)
    | template version id (4) | link index (1, into the template's declared links) | issued day (2)

Why signed rather than a random token looked up by index: minting needs no write (a dispatcher batch
renders hundreds of pushes and many are then held, not sent), and a forged or damaged token is refused
before the database is asked anything. The target is not in the token: it is the declared link of an
immutable template version, so a token can only ever lead where an editor said (no open redirect). A tag
of 96 bits cannot be guessed; the claim itself names no person beyond internal ids.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import date, datetime

_LAYOUT = struct.Struct(">BBQIIBH")
_VERSION = 1
_TAG_BYTES = 12
_EPOCH = date(2020, 1, 1)
KINDS = {"p": "push", "m": "mass_send", "r": "reply"}
# A link older than this answers "expired": long after a campaign, a click says nothing about a journey.
LIFETIME_DAYS = 90
MAX_LINKS = 255


class TokenInvalid(ValueError):
    """Not one of ours: malformed, or signed with another key (tampered)."""


class TokenExpired(ValueError):
    """Ours, but issued more than LIFETIME_DAYS ago."""


@dataclass(frozen=True)
class LinkClaim:
    """What a tracked link stands for."""

    kind: str  # a key of KINDS
    delivery_id: int
    follower_id: int  # 0: the message went to many alike (mass send, a reply for nobody in particular)
    version_id: int
    link: int
    issued_day: int

    @property
    def delivery(self) -> str:
        return KINDS[self.kind]


def day_number(moment: datetime) -> int:
    """Days since 2020-01-01 (UTC): the token's issue date."""
    return (moment.date() - _EPOCH).days


def _tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:_TAG_BYTES]


def mint(key: bytes, claim: LinkClaim) -> str:
    """The token of a claim."""
    if claim.kind not in KINDS or not 0 <= claim.link < MAX_LINKS:
        raise ValueError(f"cannot mint a token for {claim}")
    body = _LAYOUT.pack(
        _VERSION,
        ord(claim.kind),
        claim.delivery_id,
        claim.follower_id,
        claim.version_id,
        claim.link,
        claim.issued_day,
    )
    return base64.urlsafe_b64encode(body + _tag(key, body)).decode("ascii").rstrip("=")


def verify(key: bytes, token: str, *, today: int) -> LinkClaim:
    """The claim of a token; raises TokenInvalid or TokenExpired."""
    if len(token) != 44 or not token.isascii():
        raise TokenInvalid("not a link token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalid("not a link token") from None
    body, tag = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
    if len(raw) != _LAYOUT.size + _TAG_BYTES or not hmac.compare_digest(tag, _tag(key, body)):
        raise TokenInvalid("the token's signature does not match")
    version, kind, delivery_id, follower_id, version_id, link, issued = _LAYOUT.unpack(body)
    if version != _VERSION or chr(kind) not in KINDS:
        raise TokenInvalid("unknown token version")
    if today - issued > LIFETIME_DAYS:
        raise TokenExpired(f"issued {today - issued} days ago")
    return LinkClaim(chr(kind), delivery_id, follower_id, version_id, link, issued)


def derive_key(secret: bytes) -> bytes:
    """The links' key from another secret (SCRM_DATA_KEY): a separate key, so one never signs for the other."""
    return hmac.new(secret, b"scrm tracked links v1", hashlib.sha256).digest()
