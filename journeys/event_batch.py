"""What one batch of domain events needs to know, read up front in a few statements.

Handling events one by one through the ORM cost a few statements per event (its followers, their active
runs, the journeys of those runs, the latest run per journey before an enrolment, the pushes an order
could be credited to), about 300 events a second, while an import writes thousands a second. A batch
reads all of that at once; the handler then keeps it current as it ends and starts runs, so a later
event of the batch sees what an earlier one did, as it did when each event asked the database.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from journeys.attribution import OrderCredits
from journeys.catalogue import LiveJourney, PublishedTemplates, journeys_by_id
from storage.journey_runs import followers_by_ids, followers_of_profiles, latest_runs
from storage.models.core import DomainEvent, Follower
from storage.models.pushes import JourneyRun

ORDER_EVENTS = frozenset({"first_purchase", "repeat_purchase"})


class EventBatch:
    """Followers, runs, journeys and order credits of one claimed batch, as objects of its session."""

    def __init__(self, journeys: list[LiveJourney]) -> None:
        self.journeys = journeys  # enabled ones, which events may enrol into
        self.definitions: dict[int, LiveJourney] = {j.id: j for j in journeys}
        self.credits = OrderCredits(0)
        self.templates = PublishedTemplates()
        self._by_id: dict[int, Follower] = {}
        self._by_profile: dict[int, list[Follower]] = defaultdict(list)
        self._latest: dict[int, dict[int, JourneyRun]] = defaultdict(dict)  # follower -> journey -> run

    @classmethod
    async def load(
        cls,
        session: AsyncSession,
        events: Sequence[DomainEvent],
        journeys: list[LiveJourney],
        attribution_days: int,
    ) -> EventBatch:
        batch = cls(journeys)
        direct = {e.follower_id for e in events if e.follower_id is not None}
        profiles = {e.profile_id for e in events if e.follower_id is None and e.profile_id is not None}
        for follower in await followers_by_ids(session, direct):
            if follower.id is not None:
                batch._by_id[follower.id] = follower
        for follower in await followers_of_profiles(session, profiles):
            if follower.id is not None and follower.profile_id is not None:
                batch._by_id[follower.id] = follower
                batch._by_profile[follower.profile_id].append(follower)
        for run in await latest_runs(session, batch._by_id):
            batch._latest[run.follower_id][run.journey_id] = run
        running = {r.journey_id for runs in batch._latest.values() for r in runs.values() if r.state == "active"}
        batch.definitions.update(await journeys_by_id(session, running - set(batch.definitions)))
        purchases = [e for e in events if e.kind in ORDER_EVENTS]
        batch.credits = await OrderCredits.load(session, purchases, attribution_days)
        return batch

    def followers_of(self, event: DomainEvent) -> list[Follower]:
        """Whom the event is about: its follower, or every follower linked to its profile."""
        if event.follower_id is not None:
            follower = self._by_id.get(event.follower_id)
            return [follower] if follower is not None else []
        if event.profile_id is None:
            return []
        return list(self._by_profile.get(event.profile_id, []))

    def active_runs(self, follower_ids: Sequence[int]) -> list[JourneyRun]:
        found = [r for f in follower_ids if f in self._latest for r in self._latest[f].values() if r.state == "active"]
        return sorted(found, key=lambda run: run.id or 0)

    def latest_run(self, journey_id: int, follower_id: int) -> JourneyRun | None:
        return self._latest[follower_id].get(journey_id) if follower_id in self._latest else None

    def started(self, run: JourneyRun) -> None:
        """A run this batch created is now the follower's latest in its journey."""
        self._latest[run.follower_id][run.journey_id] = run
