"""Saving templates as versions, and rendering the exact version a push recorded.

Published versions never change: saving a published template makes a new version. The newest version
may be a draft, which is edited in place until it is published. A save whose body hashes the same as the
newest version changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from content.fields import RenderContext
from content.issues import ContentError, Issue
from content.journey_checks import TemplateInfo, template_info
from content.templates import (
    RenderedMessage,
    TemplateBody,
    body_doc,
    content_hash,
    parse_body,
    render_body,
)
from content.validation import validate_template_body
from storage import content as store
from storage.models.content import Template, TemplateVersion


@dataclass(frozen=True)
class SavedTemplate:
    """The outcome of a save: the template, the version it now has, and whether anything changed."""

    template: Template
    version: TemplateVersion
    changed: bool
    created: bool = False  # the template did not exist before this save


async def save_template(
    session: AsyncSession,
    name: str,
    doc: dict[str, Any],
    *,
    now: datetime,
    by: str = "",
    publish: bool = True,
    description: str | None = None,
) -> SavedTemplate:
    """Validate and save a template body; raises ContentError (nothing written) when it is refused.

    The caller commits.
    """
    body, issues = validate_template_body(doc, f"template {name}")
    if body is None:
        raise ContentError(issues)
    return await save_valid_template(session, name, body, now=now, by=by, publish=publish, description=description)


async def save_valid_template(
    session: AsyncSession,
    name: str,
    body: TemplateBody,
    *,
    now: datetime,
    by: str = "",
    publish: bool = True,
    description: str | None = None,
) -> SavedTemplate:
    """Save a body that already passed validation (the loader validates a whole directory first)."""
    if not name.strip() or len(name) > 100:
        raise ContentError([Issue(f"template {name!r}", "name", "a name of 1 to 100 characters is required")])
    canonical = body_doc(body)
    digest = content_hash(canonical)
    template = await store.template_by_name(session, name)
    changed = created = False
    if template is None:
        template = Template(name=name, kind=body.kind, purpose=body.purpose, created_at=now, updated_at=now)
        session.add(template)
        await session.flush()
        changed = created = True
    assert template.id is not None
    if description is not None and description != template.description:
        template.description = description
        changed = True
    latest = await store.latest_version(session, template.id)
    if latest is not None and latest.content_hash == digest:
        version = latest
    elif latest is not None and latest.state == "draft":
        # An unpublished draft is edited in place: no push can have rendered it.
        latest.body, latest.content_hash, latest.created_at, latest.created_by = canonical, digest, now, by
        version, changed = latest, True
    else:
        number = latest.version + 1 if latest is not None else 1
        version = TemplateVersion(
            template_id=template.id,
            version=number,
            body=canonical,
            content_hash=digest,
            state="draft",
            created_at=now,
            created_by=by,
        )
        changed = True
    if publish and version.state != "published":
        version.state, version.published_at = "published", now
        changed = True
    session.add(version)
    await session.flush()
    if version.state == "published":
        if template.current_version_id != version.id:
            template.current_version_id, changed = version.id, True
        template.draft_body = None
    else:
        template.draft_body = canonical
    if changed:
        template.kind, template.purpose = body.kind, body.purpose
        template.updated_at, template.updated_by = now, by
    session.add(template)
    await session.flush()
    return SavedTemplate(template, version, changed, created)


async def publish_draft(session: AsyncSession, name: str, *, now: datetime, by: str = "") -> SavedTemplate:
    """Publish the newest draft of a template (ContentError when there is none)."""
    template = await store.template_by_name(session, name)
    latest = await store.latest_version(session, template.id) if template and template.id else None
    if template is None or latest is None:
        raise ContentError([Issue(f"template {name}", "", "no such template")])
    if latest.state == "published":
        raise ContentError([Issue(f"template {name}", "", f"version {latest.version} is already published")])
    return await save_valid_template(session, name, parse_body(latest.body), now=now, by=by, publish=True)


async def get_version(session: AsyncSession, version_id: int) -> TemplateVersion | None:
    """The exact version a push recorded."""
    return await store.version_by_id(session, version_id)


async def current_version(session: AsyncSession, name: str) -> TemplateVersion | None:
    """The published version pushes of `name` render now (None: unknown or never published)."""
    template = await store.template_by_name(session, name)
    if template is None or template.current_version_id is None:
        return None
    return await store.version_by_id(session, template.current_version_id)


def render_version(version: TemplateVersion, context: RenderContext) -> RenderedMessage:
    """Render a stored version with a follower's context (content.fields.build_render_context).

    Raises content.sandbox.RenderError only for what save-time checks cannot foresee (a rendered text
    over WeChat's limit); missing values use the template's fallbacks.
    """
    return render_body(parse_body(version.body), context)


async def template_catalog(session: AsyncSession) -> dict[str, TemplateInfo]:
    """What journeys may send: every stored template, described by its newest version."""
    catalog: dict[str, TemplateInfo] = {}
    for template in await store.list_templates(session):
        assert template.id is not None
        latest = await store.latest_version(session, template.id)
        if latest is not None:
            catalog[template.name] = template_info(template.name, parse_body(latest.body))
    return catalog
