"""Reading and recording consent. A follower who never consented receives service messages only."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.identity import latest_consent
from storage.models.consent import Consent

MARKETING = "marketing"


async def current_consent(session: AsyncSession, follower_id: int, purpose: str = MARKETING) -> Consent | None:
    return await latest_consent(session, follower_id, purpose)


async def has_marketing_consent(session: AsyncSession, follower_id: int) -> bool:
    consent = await current_consent(session, follower_id, MARKETING)
    return consent is not None and consent.granted


async def record_consent(
    session: AsyncSession,
    follower_id: int,
    *,
    granted: bool,
    at: datetime,
    text_shown: str,
    source: str,
    profile_id: int | None = None,
    purpose: str = MARKETING,
) -> Consent:
    """Append a consent decision (never update: the history is the record). Caller commits."""
    consent = Consent(
        follower_id=follower_id,
        profile_id=profile_id,
        purpose=purpose,
        granted=granted,
        text_shown=text_shown,
        source=source,
        at=at,
    )
    session.add(consent)
    await session.flush()
    return consent
