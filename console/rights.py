"""Data requests from the profile page: export everything held about a person, or erase it.

The work itself is identity's (identity.export / identity.erase); this module only finds the person
from a profile id and runs it in one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.context import Services
from identity.erase import ErasureReport, erase_subject
from identity.export import export_subject
from identity.subjects import Subject
from storage.identity import followers_of_profile
from storage.models.core import Profile


async def subject_of_profile(session: AsyncSession, services: Services, profile_id: int) -> Subject | None:
    """The person behind a profile: the profile, its linked followers and the number in clear."""
    profile = await session.get(Profile, profile_id)
    if profile is None:
        return None
    followers = await followers_of_profile(session, profile_id)
    e164 = services.vault.unseal(profile.phone_sealed) if profile.phone_sealed else None
    return Subject(profile, followers, e164)


async def export_profile(services: Services, profile_id: int) -> dict[str, Any] | None:
    """The export document of the person behind `profile_id`, or None when there is no such profile."""
    async with services.db.session() as session:
        subject = await subject_of_profile(session, services, profile_id)
        if subject is None:
            return None
        return await export_subject(session, subject, now=services.clock.now(), data_key=services.settings.data_key)


async def erase_profile(services: Services, profile_id: int, *, actor: str) -> ErasureReport | None:
    """Erase the person behind `profile_id` (all or nothing); None when there is no such profile."""
    async with services.db.transaction() as session:
        subject = await subject_of_profile(session, services, profile_id)
        if subject is None:
            return None
        return await erase_subject(
            session, subject, actor=actor, now=services.clock.now(), data_key=services.settings.data_key
        )
