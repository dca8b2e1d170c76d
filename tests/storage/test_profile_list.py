"""The profile list's filters, sorts and pages select what an operator asked for."""

from __future__ import annotations

from datetime import timedelta

import pytest

from base.clock import FakeClock
from storage.db import Database
from storage.models.consent import Consent
from storage.models.core import Follower, Profile
from storage.models.links import LinkClick
from storage.models.pushes import JourneyRun
from storage.profile_list import PAGE_SIZE, FilterError, ProfileFilter, list_profiles, profile_ids

pytestmark = pytest.mark.storage


async def _people(db: Database, clock: FakeClock) -> dict[str, int]:
    """a: champion, bound via kol-7, consenting, active; b: at_risk, bound, withdrew; c, d: imported only."""
    now = clock.now()
    specs = {
        "a": dict(segment="champion", r_score=5, f_score=4, m_score=5, order_count=6, total_spent_fen=90_000,
                  last_order_at=now - timedelta(days=2)),
        "b": dict(segment="at_risk", r_score=2, f_score=3, m_score=3, order_count=3, total_spent_fen=30_000,
                  last_order_at=now - timedelta(days=200)),
        "c": dict(segment="new", r_score=5, f_score=1, m_score=2, order_count=1, total_spent_fen=5_000,
                  last_order_at=now - timedelta(days=1)),
        "d": dict(segment="prospect"),
    }  # fmt: skip
    ids: dict[str, int] = {}
    async with db.transaction() as session:
        for name, values in specs.items():
            profile = Profile(phone_key=name, phone_sealed=name, created_at=now, updated_at=now, **values)  # type: ignore[arg-type]
            session.add(profile)
            await session.flush()
            assert profile.id is not None
            ids[name] = profile.id
        fa = Follower(
            appid="wx",
            openid="oa",
            profile_id=ids["a"],
            channel_scene="kol-7",
            last_interaction_at=now - timedelta(days=1),
            created_at=now,
            updated_at=now,
        )
        fb = Follower(appid="wx", openid="ob", profile_id=ids["b"], channel_scene="store-1",
                      last_interaction_at=now - timedelta(days=90), created_at=now, updated_at=now)  # fmt: skip
        session.add_all([fa, fb])
        await session.flush()
        assert fa.id is not None and fb.id is not None
        session.add_all(
            [
                Consent(follower_id=fa.id, profile_id=ids["a"], granted=True, at=now),
                Consent(follower_id=fb.id, profile_id=ids["b"], granted=True, at=now - timedelta(days=5)),
                Consent(follower_id=fb.id, profile_id=ids["b"], granted=False, at=now),
                JourneyRun(journey_id=7, journey_name="j", follower_id=fb.id, profile_id=ids["b"], entered_at=now),
                # a opened two messages' links this month (one of them twice); b one, 40 days ago.
                *(
                    LinkClick(
                        delivery_kind="push",
                        delivery_id=delivery,
                        template_version_id=1,
                        link_index=0,
                        target="https://shop.example/",
                        profile_id=profile,
                        follower_id=follower,
                        visitor=visitor,
                        via="authorized",
                        clicked_at=now - timedelta(days=days),
                    )
                    for delivery, profile, follower, visitor, days in (
                        (1, ids["a"], fa.id, "f:a", 1),
                        (1, ids["a"], fa.id, "c:a", 1),
                        (2, ids["a"], fa.id, "f:a", 3),
                        (3, ids["b"], fb.id, "f:b", 40),
                    )
                ),
            ]
        )
    return ids


async def _names(db: Database, clock: FakeClock, ids: dict[str, int], spec: ProfileFilter) -> list[str]:
    by_id = {v: k for k, v in ids.items()}
    async with db.session() as session:
        page = await list_profiles(session, spec, now=clock.now())
    assert page.count == len(page.profiles)
    return [by_id[p.id] for p in page.profiles if p.id is not None]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (ProfileFilter(), ["c", "a", "b", "d"]),
        (ProfileFilter(sort="spend"), ["a", "b", "c", "d"]),
        (ProfileFilter(sort="orders"), ["a", "b", "c", "d"]),
        (ProfileFilter(segment="champion"), ["a"]),
        (ProfileFilter(r_min=5), ["c", "a"]),
        (ProfileFilter(f_min=3, m_min=3), ["a", "b"]),
        (ProfileFilter(orders_min=2, orders_max=5), ["b"]),
        (ProfileFilter(spend_min_fen=10_000, spend_max_fen=50_000), ["b"]),
        (ProfileFilter(bound="yes"), ["a", "b"]),
        (ProfileFilter(bound="no"), ["c", "d"]),
        (ProfileFilter(channel="kol-7"), ["a"]),
        (ProfileFilter(consent="yes"), ["a"]),
        (ProfileFilter(consent="no", bound="yes"), ["b"]),
        (ProfileFilter(active_days=30), ["a"]),
        (ProfileFilter(journey_id=7), ["b"]),
        (ProfileFilter(orders_min=3, orders_max=1), []),
        (ProfileFilter(clicks_min=1), ["a"]),
        (ProfileFilter(clicks_min=2), ["a"]),
        (ProfileFilter(clicks_min=3), []),
        (ProfileFilter(clicks_min=1, clicks_days=60, sort="spend"), ["a", "b"]),
    ],
)
async def test_each_filter_selects_its_profiles(
    db: Database, clock: FakeClock, spec: ProfileFilter, expected: list[str]
) -> None:
    ids = await _people(db, clock)
    assert await _names(db, clock, ids, spec) == expected


async def test_erased_profiles_are_never_listed(db: Database, clock: FakeClock) -> None:
    ids = await _people(db, clock)
    async with db.transaction() as session:
        erased = await session.get(Profile, ids["c"])
        assert erased is not None
        erased.erased_at = clock.now()
        session.add(erased)
    assert await _names(db, clock, ids, ProfileFilter()) == ["a", "b", "d"]


async def test_pages_and_all_ids(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    async with db.transaction() as session:
        session.add_all(
            Profile(phone_key=f"k{n}", phone_sealed="s", total_spent_fen=n, created_at=now, updated_at=now)
            for n in range(PAGE_SIZE + 3)
        )
    async with db.session() as session:
        first = await list_profiles(session, ProfileFilter(sort="spend"), now=now)
        second = await list_profiles(session, ProfileFilter(sort="spend"), now=now, page=2)
        chunks = [chunk async for chunk in profile_ids(session, ProfileFilter(), now=now, chunk=20)]
    assert first.has_next and not second.has_next and first.count == PAGE_SIZE + 3
    assert [p.total_spent_fen for p in second.profiles] == [2, 1, 0]
    assert [len(chunk) for chunk in chunks] == [20, 20, 13]


@pytest.mark.parametrize(
    "doc",
    [{"r_min": 6}, {"consent": "maybe"}, {"sort": "random"}, {"orders_min": -1}, {"segmnet": "champion"}],
)
def test_bad_filters_are_refused_with_their_field(doc: dict[str, object]) -> None:
    with pytest.raises(FilterError):
        ProfileFilter.from_doc(doc)


def test_a_filter_survives_saving() -> None:
    spec = ProfileFilter(segment="loyal", r_min=4, bound="yes", spend_min_fen=100, sort="spend")
    assert ProfileFilter.from_doc(spec.to_doc()) == spec
    assert ProfileFilter().is_empty() and not spec.is_empty()
