"""Templates: list, edit with validation and a live preview against a chosen profile, versions, publish."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from base.i18n import N_, _
from console.audit import audit
from console.content_preview import (
    body_diff,
    body_to_yaml,
    check_and_preview,
    describe_issue,
    preview_context,
    preview_profiles,
)
from console.keys import AUDITED, SERVICES, VIEWER
from console.lookup import get_or_404
from console.rendering import redirect, render_page
from console.security import actor_name
from content.cache import notify_content_changed
from content.issues import ContentError
from content.templates import TEMPLATE_KINDS
from publishing.versions import publish_draft, save_template
from storage import content as store
from storage.models.content import Template, TemplateVersion

# What a new template starts from: a valid text body showing a personal field and its fallback.
NEW_BODY = (
    "kind: text\npurpose: marketing\ncontent: |\n  {{ profile.name }}，您好！\nfallbacks:\n  profile.name: 朋友\n"
)


def _profile_choice(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


async def template_list(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        templates = list(await store.list_templates(session))
    return render_page(request, "templates.html", templates=templates)


async def _editor(
    request: web.Request,
    session: AsyncSession,
    *,
    template: Template | None,
    name: str,
    description: str,
    source: str,
    profile_id: int | None,
    errors: list[str] | None = None,
    status: int = 200,
) -> web.Response:
    services = request.app[SERVICES]
    context = await preview_context(session, profile_id, services.clock)
    checked = check_and_preview(source, name, context)
    versions: list[TemplateVersion] = []
    if template is not None and template.id is not None:
        versions = list(await store.list_versions(session, template.id))
    return render_page(
        request,
        "template_edit.html",
        status=status,
        template=template,
        name=name,
        description=description,
        source=source,
        issues=errors if errors is not None else checked.issues,
        preview=checked.preview,
        profiles=await preview_profiles(session),
        profile_id=profile_id,
        versions=list(reversed(versions)),
        kinds=TEMPLATE_KINDS,
    )


async def _template(session: AsyncSession, request: web.Request) -> Template:
    return await get_or_404(session, Template, request, "template_id", N_("No such template."))


async def template_new(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        return await _editor(
            request, session, template=None, name="", description="", source=NEW_BODY,
            profile_id=_profile_choice(request.query.get("profile")),
        )  # fmt: skip


async def template_edit(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        template = await _template(session, request)
        assert template.id is not None
        latest = await store.latest_version(session, template.id)
        body = template.draft_body or (latest.body if latest is not None else {})
        return await _editor(
            request, session, template=template, name=template.name, description=template.description,
            source=body_to_yaml(body), profile_id=_profile_choice(request.query.get("profile")),
        )  # fmt: skip


async def template_save(request: web.Request) -> web.StreamResponse:
    """Save as a draft (a published template gets a new draft version); refused bodies keep the typing."""
    services = request.app[SERVICES]
    form = await request.post()
    source = str(form.get("body", ""))
    description = str(form.get("description", "")).strip()[:300]
    profile_id = _profile_choice(str(form.get("profile", "")))
    creating = "template_id" not in request.match_info
    async with services.db.session() as session:
        template = None if creating else await _template(session, request)
        name = str(form.get("name", "")).strip() if creating else (template.name if template else "")
        errors: list[str] = []
        if creating and not name:
            errors.append(_("name: give the template a name"))
        elif creating and await store.template_by_name(session, name) is not None:
            errors.append(_("name: a template named “%(name)s” already exists") % {"name": name})
        checked = check_and_preview(source, name, await preview_context(session, profile_id, services.clock))
        errors += checked.issues
        saved = None
        if not errors and checked.doc is not None:
            try:
                saved = await save_template(
                    session, name, checked.doc, now=services.clock.now(), by=actor_name(request[VIEWER]),
                    publish=False, description=description,
                )  # fmt: skip
            except ContentError as error:
                errors += [describe_issue(issue) for issue in error.issues]
        if saved is None:
            await session.rollback()
            return await _editor(
                request, session, template=template, name=name, description=description, source=source,
                profile_id=profile_id, errors=errors, status=400,
            )  # fmt: skip
        audit(
            request, session, "console.template_saved", name,
            version=saved.version.version, changed=saved.changed, state=saved.version.state,
        )  # fmt: skip
        await session.commit()
        template_id = saved.template.id
    raise redirect(request, f"/templates/{template_id}", "saved")


async def template_publish(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    async with services.db.session() as session:
        template = await _template(session, request)
        try:
            saved = await publish_draft(
                session, template.name, now=services.clock.now(), by=actor_name(request[VIEWER])
            )
        except ContentError as error:
            await session.rollback()
            reason = "; ".join(describe_issue(issue) for issue in error.issues)
            raise web.HTTPConflict(text=_("Nothing to publish: %(reason)s") % {"reason": reason}) from None
        audit(request, session, "console.template_published", template.name, version=saved.version.version)
        await session.commit()
    # The reply book of this process caches published content: make it read the new version.
    notify_content_changed()
    raise redirect(request, f"/templates/{saved.template.id}", "published")


async def template_diff(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        template = await _template(session, request)
        assert template.id is not None
        versions = {v.version: v for v in await store.list_versions(session, template.id)}
    numbers = sorted(versions)

    def chosen(key: str, default: int) -> int:
        raw = request.query.get(key, "")
        return int(raw) if raw.isdigit() and int(raw) in versions else default

    newer = chosen("to", numbers[-1] if numbers else 0)
    older = chosen("from", max((n for n in numbers if n < newer), default=newer))
    lines: list[tuple[str, str]] = []
    if versions:
        lines = body_diff(
            versions[older].body,
            versions[newer].body,
            _("version %(number)d") % {"number": older},
            _("version %(number)d") % {"number": newer},
        )
    return render_page(
        request, "template_diff.html", template=template, numbers=numbers, older=older, newer=newer, lines=lines
    )


async def template_preview(request: web.Request) -> web.StreamResponse:
    """The live preview: JSON in ({body, name, profile_id}), issues and the rendered message out."""
    try:
        document: Any = await request.json()
    except ValueError:
        return web.json_response({"error": _("send a JSON object")}, status=400)
    if not isinstance(document, dict):
        return web.json_response({"error": _("send a JSON object")}, status=400)
    services = request.app[SERVICES]
    profile_id = _profile_choice(str(document.get("profile_id") or ""))
    async with services.db.session() as session:
        context = await preview_context(session, profile_id, services.clock)
    checked = check_and_preview(str(document.get("body", "")), str(document.get("name", "")), context)
    # Previews change nothing: no audit entry for them.
    request[AUDITED] = True
    return web.json_response({"ok": checked.ok, "issues": checked.issues, "preview": checked.preview})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/templates", template_list)
    router.add_get("/templates/new", template_new)
    router.add_post("/templates/new", template_save)
    router.add_post("/templates/preview", template_preview)
    router.add_get(r"/templates/{template_id:\d+}", template_edit)
    router.add_post(r"/templates/{template_id:\d+}", template_save)
    router.add_post(r"/templates/{template_id:\d+}/publish", template_publish)
    router.add_get(r"/templates/{template_id:\d+}/versions", template_diff)
