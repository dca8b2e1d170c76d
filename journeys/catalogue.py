"""Enabled journeys and published templates as the runtime sees them, read from the content tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from content.model import JourneyDefinition
from storage.journeys import enabled_journey_rows, journey_rows, template_named

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveJourney:
    """An enabled journey with its parsed definition."""

    id: int
    name: str
    version: int
    definition: JourneyDefinition


@dataclass(frozen=True)
class PublishedTemplate:
    version_id: int
    kind: str
    purpose: str


async def enabled_journeys(session: AsyncSession) -> list[LiveJourney]:
    """Every enabled journey whose stored definition parses; broken ones are logged and left out."""
    rows = await enabled_journey_rows(session)
    live: list[LiveJourney] = []
    for row in rows:
        try:
            definition = JourneyDefinition.from_doc(row.definition)
        except ValidationError as error:
            log.error("journey %s has an invalid stored definition and is ignored: %s", row.name, error)
            continue
        if definition.enabled and row.id is not None:
            live.append(LiveJourney(row.id, row.name, row.version, definition))
    return live


async def journeys_by_id(session: AsyncSession, ids: set[int]) -> dict[int, LiveJourney]:
    """Definitions of the given journeys, enabled or not (running runs finish their journey)."""
    if not ids:
        return {}
    rows = await journey_rows(session, ids)
    found: dict[int, LiveJourney] = {}
    for row in rows:
        try:
            definition = JourneyDefinition.from_doc(row.definition)
        except ValidationError as error:
            log.error("journey %s has an invalid stored definition: %s", row.name, error)
            continue
        if row.id is not None:
            found[row.id] = LiveJourney(row.id, row.name, row.version, definition)
    return found


async def published_template(session: AsyncSession, name: str) -> PublishedTemplate | None:
    """The version a push of template `name` renders now (None when missing or never published)."""
    template = await template_named(session, name)
    if template is None or template.current_version_id is None:
        return None
    return PublishedTemplate(template.current_version_id, template.kind, template.purpose)


class PublishedTemplates:
    """Published templates looked up once per name: a transaction that plans many pushes of the same
    few templates asks the database once for each."""

    def __init__(self) -> None:
        self._found: dict[str, PublishedTemplate | None] = {}

    async def get(self, session: AsyncSession, name: str) -> PublishedTemplate | None:
        if name not in self._found:
            self._found[name] = await published_template(session, name)
        return self._found[name]
