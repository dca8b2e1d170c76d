"""Withdrawing and restoring marketing consent by keyword; a withdrawal takes effect at once.

A withdrawal appends a refusing consent row and the `consent_withdrawn` domain event, on which journeys
cancel the follower's pending marketing pushes (they also re-check consent before every marketing send).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from identity.consent import MARKETING, record_consent
from storage.events import add_event, follower_event
from storage.models.consent import Consent
from storage.models.core import Follower

# Compared after strip() and casefold(): `TD`, `td`, ` Unsubscribe ` all count.
OPT_OUT_WORDS = frozenset({"td", "退订", "取消订阅", "unsubscribe"})
SUBSCRIBE_WORDS = ("订阅",)


def is_opt_out(text: str) -> bool:
    """Whether a text message asks to stop marketing."""
    return text.strip().casefold() in OPT_OUT_WORDS


async def withdraw_marketing(
    session: AsyncSession, follower: Follower, *, typed: str, source: str, now: datetime
) -> Consent:
    """Record the withdrawal (with the words the follower used) and tell journeys; caller commits."""
    assert follower.id is not None
    consent = await record_consent(
        session,
        follower.id,
        granted=False,
        at=now,
        text_shown=typed.strip()[:1000],
        source=source,
        profile_id=follower.profile_id,
    )
    add_event(
        session, follower_event(follower, "consent_withdrawn", at=now, payload={"purpose": MARKETING, "source": source})
    )
    await session.flush()
    return consent


async def grant_marketing(
    session: AsyncSession, follower: Follower, *, text_shown: str, source: str, now: datetime
) -> Consent:
    """Record a new consent given to exactly `text_shown`; caller commits."""
    assert follower.id is not None
    return await record_consent(
        session,
        follower.id,
        granted=True,
        at=now,
        text_shown=text_shown,
        source=source,
        profile_id=follower.profile_id,
    )
