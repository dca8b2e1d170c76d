"""Rows the console tests show: followers, profiles, pushes, a template and a journey."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from base.vault import PhoneVault, mask_phone
from publishing.publish import save_journey_doc
from publishing.versions import save_template
from storage.db import Database
from storage.models.core import Follower, Profile
from storage.models.pushes import JourneyRun, Push

APPID = "wx1234567890abcdef"


async def person(
    db: Database, now: datetime, *, openid: str, phone: str | None, name: str = "", orders: int = 0,
    channel: str | None = None,
) -> tuple[int, int | None]:  # fmt: skip
    """A follower, bound to a profile with `orders` orders when a phone is given; returns their ids."""
    vault = PhoneVault()
    async with db.transaction() as session:
        profile_id = None
        if phone is not None:
            profile = Profile(
                phone_key=vault.lookup_key(phone), phone_sealed=vault.seal(phone), phone_masked=mask_phone(phone),
                name=name or None, order_count=orders, total_spent_fen=9900 * orders,
                last_order_at=now if orders else None, created_at=now, updated_at=now,
            )  # fmt: skip
            session.add(profile)
            await session.flush()
            profile_id = profile.id
        follower = Follower(
            appid=APPID, openid=openid, channel_scene=channel, subscribed_at=now, profile_id=profile_id,
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(follower)
        await session.flush()
        assert follower.id is not None
        return follower.id, profile_id


TEXT_BODY: dict[str, Any] = {
    "kind": "text",
    "purpose": "marketing",
    "content": "{{ profile.name }}，欢迎回来！",
    "fallbacks": {"profile.name": "朋友"},
}


async def template_and_journey(db: Database, now: datetime) -> tuple[int, int]:
    """A published welcome template and a two-step journey sending it; returns (template id, journey id)."""
    async with db.transaction() as session:
        saved = await save_template(session, "welcome", TEXT_BODY, now=now, by="test")
        journey = await save_journey_doc(
            session,
            {
                "name": "onboarding",
                "title": "新关注欢迎",
                "trigger": {"kind": "followed"},
                "steps": [
                    {"type": "send", "id": "hello", "template": "welcome"},
                    {"type": "wait", "id": "pause", "duration": "2d"},
                    {"type": "send", "id": "again", "template": "welcome"},
                ],
            },
            now=now,
            by="test",
        )
    assert saved.template.id is not None and journey.id is not None
    return saved.template.id, journey.id


async def push(
    db: Database, now: datetime, *, follower_id: int, journey_id: int | None, status: str, reason: str = "",
    step_key: str = "hello", profile_id: int | None = None,
) -> int:  # fmt: skip
    async with db.transaction() as session:
        row = Push(
            journey_id=journey_id, step_key=step_key, follower_id=follower_id, profile_id=profile_id, appid=APPID,
            openid=f"o{follower_id}", template_version_id=1, due_at=now, status=status, reason=reason,
            finished_at=now if status in ("sent", "failed", "expired", "skipped") else None, created_at=now,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        assert row.id is not None
        return row.id


async def run(
    db: Database, now: datetime, *, journey_id: int, follower_id: int, profile_id: int | None, state: str = "active",
    end_reason: str = "",
) -> None:  # fmt: skip
    """A run of the onboarding journey entered a day ago; an ended one (`state`) keeps its `end_reason`."""
    async with db.transaction() as session:
        session.add(
            JourneyRun(
                journey_id=journey_id,
                journey_name="onboarding",
                follower_id=follower_id,
                profile_id=profile_id,
                entered_at=now - timedelta(days=1),
                state=state,
                end_reason=end_reason,
                ended_at=None if state == "active" else now,
            )  # fmt: skip
        )


TEXT_BODY_YAML = (
    "kind: text\npurpose: marketing\ncontent: '{{ profile.name }}，欢迎回来！'\nfallbacks:\n  profile.name: 朋友\n"
)
