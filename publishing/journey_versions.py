"""Journeys as versions: console drafts, publishing one, and which wins when YAML and the console differ.

Every change of a journey's live definition is a numbered, published version (`journey_versions`);
the console may also save drafts, which change nothing until published. Journeys kept as YAML still
load: a file's journey replaces the live one when the file changed since it was last loaded, and is
left alone (reported as kept) while the live version is a console edit made after that load. So a
console edit (publish, pause or resume) wins until someone changes the YAML file again; then the file
wins, and the console's versions stay listed for comparison or publishing again.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from content.model import JourneyDefinition
from content.templates import content_hash
from storage import content as store
from storage.journey_versions import last_version_number
from storage.models.content import Journey, JourneyVersion

YAML = "yaml"
CONSOLE = "console"


async def _next_number(session: AsyncSession, row: Journey) -> int:
    if row.id is None:
        await session.flush()
    assert row.id is not None
    return max(row.version, await last_version_number(session, row.id)) + 1


async def save_journey(
    session: AsyncSession, journey: JourneyDefinition, *, now: datetime, by: str = "", source: str = YAML
) -> tuple[Journey, str]:
    """Make `journey` live as a new published version; returns the row and "new", "updated" or "unchanged"."""
    doc = journey.to_doc()
    digest = content_hash(doc)
    row = await store.journey_by_name(session, journey.name)
    if row is not None and row.content_hash == digest and row.version > 0:
        if row.source != source and source == CONSOLE:
            row.source = source  # the console asked for exactly this: it now holds it against the file
            session.add(row)
        return row, "unchanged"
    status = "updated" if row is not None and row.version > 0 else "new"
    if row is None:
        row = Journey(name=journey.name, content_hash=digest, created_at=now, updated_at=now, version=0)
        session.add(row)
    number = await _next_number(session, row)
    row.title, row.definition, row.content_hash, row.source = journey.title, doc, digest, source
    row.enabled, row.version, row.updated_at, row.updated_by = journey.enabled, number, now, by
    session.add(row)
    assert row.id is not None
    session.add(
        JourneyVersion(
            journey_id=row.id,
            version=number,
            definition=doc,
            content_hash=digest,
            state="published",
            source=source,
            created_at=now,
            created_by=by,
            published_at=now,
        )  # fmt: skip
    )
    await session.flush()
    return row, status


async def load_yaml_journey(
    session: AsyncSession, journey: JourneyDefinition, *, now: datetime, by: str = ""
) -> tuple[Journey, str]:
    """A journey read from a YAML file: "kept" when a console edit holds and the file did not change."""
    digest = content_hash(journey.to_doc())
    row = await store.journey_by_name(session, journey.name)
    if row is not None and row.source == CONSOLE and row.yaml_hash == digest:
        return row, "kept"
    row, status = await save_journey(session, journey, now=now, by=by, source=YAML)
    row.yaml_hash = digest
    session.add(row)
    return row, status


async def save_draft(session: AsyncSession, journey: JourneyDefinition, *, now: datetime, by: str) -> JourneyVersion:
    """Keep a console draft as the journey's next version; a new journey's row is made, not live."""
    doc = journey.to_doc()
    row = await store.journey_by_name(session, journey.name)
    if row is None:
        # Version 0 and disabled: nothing runs it until a version is published.
        row = Journey(name=journey.name, title=journey.title, definition=doc, content_hash="", version=0,
                      enabled=False, source=CONSOLE, created_at=now, updated_at=now, updated_by=by)  # fmt: skip
        session.add(row)
    number = await _next_number(session, row)
    assert row.id is not None
    draft = JourneyVersion(journey_id=row.id, version=number, definition=doc, content_hash=content_hash(doc),
                           state="draft", source=CONSOLE, created_at=now, created_by=by)  # fmt: skip
    session.add(draft)
    await session.flush()
    return draft


async def publish_version(
    session: AsyncSession, row: Journey, version: JourneyVersion, *, now: datetime, by: str
) -> None:
    """Make a saved version live (and running: publishing resumes a paused journey)."""
    definition = JourneyDefinition.from_doc(version.definition).model_copy(update={"enabled": True})
    doc = definition.to_doc()
    row.title, row.definition, row.content_hash = definition.title, doc, content_hash(doc)
    row.enabled, row.version, row.source, row.updated_at, row.updated_by = True, version.version, CONSOLE, now, by
    version.state, version.published_at, version.definition = "published", now, doc
    version.content_hash = row.content_hash
    session.add(row)
    session.add(version)
    await session.flush()
