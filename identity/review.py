"""Weak identities: orders whose phone could not key a profile, matched to profiles by a person.

A masked or virtual number never merges on its own. A candidate is an unlinked order whose phone hint
shows the same last four digits as a profile's number, with the same receiver name and city as that
profile; an admin confirms (the order joins the profile, audited) or rejects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from base.phones import MOBILE
from identity.linking import PROOF_ADMIN, audit
from storage.identity import (
    candidate_pairs,
    candidates_with_order_and_profile,
    other_candidates_of_order,
    weak_match_pairs,
)
from storage.models.identity import IdentityCandidate
from storage.models.orders import Order

PENDING, CONFIRMED, REJECTED = "pending", "confirmed", "rejected"


class CandidateError(LookupError):
    """The candidate does not exist or was already decided; the message says which."""


@dataclass(frozen=True)
class CandidateView:
    """One line of `scrm identities review`: enough for a person to judge, phones masked."""

    id: int
    status: str
    order_id: int
    platform: str
    order_no: str
    phone_hint: str
    receiver_name: str
    receiver_city: str
    profile_id: int
    profile_phone: str
    profile_name: str
    profile_city: str


async def find_candidates(session: AsyncSession, *, now: datetime) -> int:
    """Record new candidate matches; returns how many were added (known ones are not repeated)."""
    pairs = await weak_match_pairs(session, strong_kind=MOBILE)
    existing = await candidate_pairs(session)
    added = 0
    for order_id, profile_id in pairs:
        if (order_id, profile_id) in existing:
            continue
        session.add(IdentityCandidate(order_id=order_id, profile_id=profile_id, found_at=now))
        existing.add((order_id, profile_id))
        added += 1
    await session.flush()
    return added


async def list_candidates(session: AsyncSession, *, status: str | None = PENDING) -> list[CandidateView]:
    """Candidates with what an admin needs to decide (oldest first)."""
    views: list[CandidateView] = []
    for candidate, order, profile in await candidates_with_order_and_profile(session, status=status):
        assert candidate.id is not None and order.id is not None and profile.id is not None
        views.append(
            CandidateView(
                id=candidate.id,
                status=candidate.status,
                order_id=order.id,
                platform=order.platform,
                order_no=order.order_no,
                phone_hint=order.phone_hint or "",
                receiver_name=order.receiver_name or "",
                receiver_city=order.receiver_city or "",
                profile_id=profile.id,
                profile_phone=profile.phone_masked,
                profile_name=profile.name or "",
                profile_city=profile.city or "",
            )
        )
    return views


async def _pending(session: AsyncSession, candidate_id: int) -> IdentityCandidate:
    candidate = await session.get(IdentityCandidate, candidate_id)
    if candidate is None:
        raise CandidateError(f"no candidate {candidate_id}")
    if candidate.status != PENDING:
        raise CandidateError(f"candidate {candidate_id} was already {candidate.status} by {candidate.decided_by}")
    return candidate


async def confirm_candidate(session: AsyncSession, candidate_id: int, *, actor: str, now: datetime) -> int:
    """The order is the profile's: link it, reject the order's other candidates; returns the profile id."""
    candidate = await _pending(session, candidate_id)
    order = await session.get(Order, candidate.order_id)
    if order is None:
        raise CandidateError(f"order {candidate.order_id} of candidate {candidate_id} no longer exists")
    if order.profile_id is not None:
        raise CandidateError(f"order {order.id} already belongs to profile {order.profile_id}")
    order.profile_id = candidate.profile_id
    order.updated_at = now
    session.add(order)
    candidate.status, candidate.decided_at, candidate.decided_by = CONFIRMED, now, actor
    session.add(candidate)
    assert candidate.id is not None
    others = await other_candidates_of_order(
        session, order_id=candidate.order_id, except_id=candidate.id, status=PENDING
    )
    for other in others:
        other.status, other.decided_at, other.decided_by = REJECTED, now, actor
        session.add(other)
    audit(
        session,
        actor=actor,
        action="identity.weak_match_confirmed",
        target=f"order:{order.id}",
        at=now,
        profile_id=candidate.profile_id,
        candidate_id=candidate.id,
        proof=PROOF_ADMIN,
        hint_kind=order.hint_kind,
    )
    await session.flush()
    return candidate.profile_id


async def reject_candidate(session: AsyncSession, candidate_id: int, *, actor: str, now: datetime) -> None:
    """Not the same person: the candidate is closed and never listed again."""
    candidate = await _pending(session, candidate_id)
    candidate.status, candidate.decided_at, candidate.decided_by = REJECTED, now, actor
    session.add(candidate)
    audit(
        session,
        actor=actor,
        action="identity.weak_match_rejected",
        target=f"order:{candidate.order_id}",
        at=now,
        profile_id=candidate.profile_id,
        candidate_id=candidate.id,
    )
    await session.flush()
