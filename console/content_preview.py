"""Template bodies as editors type them (YAML), their validation issues, and a preview of the message."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlmodel.ext.asyncio.session import AsyncSession

from base.clock import Clock
from base.i18n import _
from console.engine_text import engine_text
from content.fields import RenderContext, build_render_context, sample_context
from content.issues import Issue
from content.sandbox import RenderError
from content.templates import RenderedMessage, render_body
from content.validation import validate_template_body
from storage.identity import followers_of_profile, recent_buyers
from storage.models.core import Profile
from wechat.replies import ImageReply, NewsReply, TextReply


def body_to_yaml(body: dict[str, Any]) -> str:
    """A stored body as the YAML an editor edits (keys in their stored order, Chinese kept readable)."""
    return str(yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=100))


@dataclass
class Checked:
    """A typed-in body: the document when it parsed, the issues found, and the preview when it rendered."""

    doc: dict[str, Any] | None = None
    issues: list[str] = field(default_factory=list)
    preview: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.doc is not None and not self.issues


def parse_yaml_body(source: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The body document from the editor's YAML, or the syntax problem with its line."""
    try:
        doc = yaml.safe_load(source)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = _("line %(line)d: ") % {"line": mark.line + 1} if mark is not None else ""
        problem = getattr(error, "problem", None) or error
        return None, [where + _("the body is not valid YAML (%(problem)s)") % {"problem": problem}]
    if not isinstance(doc, dict):
        return None, [_("the body must be a YAML mapping such as `kind: text` and `content: ...`")]
    return doc, []


def describe_issue(issue: Issue) -> str:
    """A content finding as the editor shows it: its line, the field it names and its message, translated."""
    line = _("line %(line)d: ") % {"line": issue.line} if issue.line is not None else ""
    message = engine_text(issue.message)
    return f"{line}{issue.field}: {message}" if issue.field else f"{line}{message}"


def preview_of(message: RenderedMessage) -> dict[str, Any]:
    """What the follower would see, as plain data the page (or the live-preview script) shows."""
    shown: dict[str, Any] = {"kind": message.kind, "purpose": message.purpose, "summary": message.preview_text()}
    if isinstance(message.reply, TextReply):
        shown["text"] = message.reply.content
    elif isinstance(message.reply, NewsReply):
        shown["articles"] = [
            {"title": a.title, "description": a.description, "url": a.url, "picurl": a.picurl}
            for a in message.reply.articles
        ]
    elif isinstance(message.reply, ImageReply):
        shown["media_id"] = message.reply.media_id
    elif message.payload is not None and message.kind == "wechat_template":
        shown["fields"] = [[key, str(item.get("value", ""))] for key, item in message.payload.get("data", {}).items()]
        shown["url"] = message.payload.get("url", "")
    elif message.payload is not None:
        shown["articles"] = [
            {"title": a.get("title", ""), "description": a.get("digest", ""), "url": a.get("content_source_url", "")}
            for a in message.payload.get("articles", [])
        ]
    return shown


def check_and_preview(source: str, name: str, context: RenderContext) -> Checked:
    """Validate the typed-in body exactly as a save would, and render it when it is valid."""
    doc, problems = parse_yaml_body(source)
    if doc is None:
        return Checked(None, problems)
    body, issues = validate_template_body(doc, f"template {name or 'new'}")
    if body is None:
        return Checked(doc, [describe_issue(issue) for issue in issues])
    try:
        return Checked(doc, [], preview_of(render_body(body, context)))
    except RenderError as error:
        return Checked(doc, [engine_text(str(error))])


async def preview_context(session: AsyncSession, profile_id: int | None, clock: Clock) -> RenderContext:
    """The chosen profile (with its first follower) as a render context; the sample one when none."""
    if profile_id is None:
        return sample_context()
    profile = await session.get(Profile, profile_id)
    if profile is None:
        return sample_context()
    first = await followers_of_profile(session, profile_id, limit=1)
    follower = first[0] if first else None
    return build_render_context(follower, profile, None, clock.now())


async def preview_profiles(session: AsyncSession, limit: int = 30) -> list[tuple[int, str]]:
    """Recent buyers to preview against, labelled with name and masked phone only."""
    return [
        (profile.id, f"{profile.name or '—'} · {profile.phone_masked} · {profile.segment}")
        for profile in await recent_buyers(session, limit)
        if profile.id is not None
    ]


def body_diff(
    older: dict[str, Any], newer: dict[str, Any], older_label: str, newer_label: str
) -> list[tuple[str, str]]:
    """A unified diff of two bodies' YAML, each line tagged add, del, hunk or same for display."""
    lines = difflib.unified_diff(
        body_to_yaml(older).splitlines(),
        body_to_yaml(newer).splitlines(),
        fromfile=older_label,
        tofile=newer_label,
        lineterm="",
    )
    tagged = []
    for line in lines:
        if line.startswith(("+++", "---")):
            tagged.append(("hunk", line))
        elif line.startswith("+"):
            tagged.append(("add", line))
        elif line.startswith("-"):
            tagged.append(("del", line))
        elif line.startswith("@@"):
            tagged.append(("hunk", line))
        else:
            tagged.append(("same", line))
    return tagged
