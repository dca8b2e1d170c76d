"""Checks a template body must pass before it is saved: syntax, fields, fallbacks, WeChat's limits,
https links and penalised wording. Every issue names the field and the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from content.fields import FIELDS, empty_context, sample_context, with_fallbacks
from content.issues import Issue, field_path, issues_from_pydantic
from content.links import check_declared_links
from content.sandbox import RenderError, inspect_source, is_plain, render_source
from content.templates import (
    MASS_MAX_ARTICLES,
    MASS_TITLE_MAX_CHARS,
    NEWS_MAX_ARTICLES,
    TEMPLATE_KINDS,
    TEXT_MAX_BYTES,
    ImageBody,
    MassNewsBody,
    NewsBody,
    TemplateBody,
    TextBody,
    WechatTemplateBody,
    parse_body,
    template_texts,
    url_paths,
)
from content.wording import find_penalised_wording
from content.yamlsource import SourceMap

Path = tuple[str | int, ...]


class _Collector:
    """Gathers issues, placing each on its file line when the body came from a YAML file."""

    def __init__(self, where: str, source: SourceMap | None, base: Path) -> None:
        self.where = where
        self.source = source
        self.base = base
        self.issues: list[Issue] = []

    def add(self, path: Sequence[str | int], message: str, inner_line: int | None = None) -> None:
        line = inner_line if self.source is None else self.source.line_of((*self.base, *path), inner_line)
        self.issues.append(Issue(self.where, field_path(path), message, line))


def validate_template_body(
    doc: dict[str, Any], where: str, *, source: SourceMap | None = None, base: Path = ()
) -> tuple[TemplateBody | None, list[Issue]]:
    """Check a body document; returns the typed body when there is no issue, else None and the issues."""
    try:
        body = parse_body(doc)
    except ValidationError as error:
        return None, issues_from_pydantic(error, where, source=source, base=base, tags=frozenset(TEMPLATE_KINDS))
    out = _Collector(where, source, base)
    broken: set[Path] = set()
    used: list[tuple[Path, str, int]] = []
    for path, text in template_texts(body):
        report = inspect_source(text)
        for problem in report.problems:
            out.add(path, problem.message, problem.line)
            broken.add(path)
        used.extend((path, use.path, use.line) for use in report.fields)
        for hit in find_penalised_wording(text):
            out.add(path, f"wording WeChat penalises: {hit.phrase} (rewards for following or sharing)", hit.line)
    _check_fallbacks(body, used, out)
    _check_structure(body, out)
    for index, link_problem in check_declared_links(body.links):
        out.add(("links", index), link_problem)
    _check_rendered(body, broken, out)
    return (None if out.issues else body), out.issues


def _check_fallbacks(body: TemplateBody, used: list[tuple[Path, str, int]], out: _Collector) -> None:
    if isinstance(body, MassNewsBody):
        for path, field, line in used:
            out.add(path, f"mass-send news goes to everyone alike: personal field {field} is not allowed", line)
        return
    for key, value in body.fallbacks.items():
        if key not in FIELDS:
            out.add(("fallbacks", key), f"unknown field {key} (known: {', '.join(FIELDS)})")
            continue
        if not is_plain(value):
            out.add(("fallbacks", key), "a fallback is plain text, without {{ }} fields")
        elif not value.strip():
            out.add(("fallbacks", key), "a fallback must not be empty: it is shown instead of the field")
        for hit in find_penalised_wording(value):
            out.add(("fallbacks", key), f"wording WeChat penalises: {hit.phrase}")
    reported: set[str] = set()
    for path, field, line in used:
        if FIELDS[field].nullable and field not in body.fallbacks and field not in reported:
            reported.add(field)
            out.add(path, f"{field} can be missing at send time: declare its text under fallbacks", line)


def _check_structure(body: TemplateBody, out: _Collector) -> None:
    if isinstance(body, TextBody) and not body.content.strip():
        out.add(("content",), "the text is empty")
    elif isinstance(body, NewsBody):
        if len(body.articles) != NEWS_MAX_ARTICLES:
            out.add(("articles",), f"a news push carries exactly one article, got {len(body.articles)}")
        for index, article in enumerate(body.articles):
            if not article.title.strip():
                out.add(("articles", index, "title"), "the article needs a title")
            if not article.url.strip():
                out.add(("articles", index, "url"), "the article needs a link to open")
    elif isinstance(body, ImageBody) and not body.media_id.strip():
        out.add(("media_id",), "the image needs the media id of an uploaded picture")
    elif isinstance(body, WechatTemplateBody):
        _check_wechat_template(body, out)
    elif isinstance(body, MassNewsBody):
        if not 1 <= len(body.articles) <= MASS_MAX_ARTICLES:
            count = len(body.articles)
            out.add(("articles",), f"a mass-send news holds 1 to {MASS_MAX_ARTICLES} articles, got {count}")
        for index, mass in enumerate(body.articles):
            if not mass.title.strip() or len(mass.title) > MASS_TITLE_MAX_CHARS:
                out.add(("articles", index, "title"), f"a title of 1 to {MASS_TITLE_MAX_CHARS} characters is required")
            if not mass.content.strip():
                out.add(("articles", index, "content"), "the article body is empty")
            if not mass.thumb_media_id.strip():
                out.add(("articles", index, "thumb_media_id"), "the cover picture's media id is required")


def _check_wechat_template(body: WechatTemplateBody, out: _Collector) -> None:
    if body.purpose != "service":
        out.add(
            ("purpose",),
            "only service templates may go out as WeChat template messages (WeChat forbids marketing in them)",
        )
    if not body.template_id.strip():
        out.add(("template_id",), "the WeChat template id is required")
    keys = body.wechat_keys
    if not keys:
        out.add(("wechat_keys",), "list the keys of the WeChat template (first, keyword1, ..., remark)")
    if len(set(keys)) != len(keys):
        out.add(("wechat_keys",), "a key is listed twice")
    missing = [key for key in keys if key not in body.data]
    extra = [key for key in body.data if key not in keys]
    if missing:
        out.add(("data",), f"the WeChat template expects {', '.join(missing)}: add them under data")
    for key in extra:
        out.add(("data", key), f"{key} is not a key of the WeChat template ({', '.join(keys)})")


def _check_rendered(body: TemplateBody, broken: set[Path], out: _Collector) -> None:
    """Render against the sample profile and against nobody at all (every fallback) to check the output."""
    texts = dict(template_texts(body))
    failed: set[Path] = set(broken)  # one issue per text is enough
    for label, context in (("the sample profile", sample_context()), ("a follower without a profile", empty_context())):
        resolved = with_fallbacks(context, body.fallbacks)
        for path in url_paths(body):
            source = str(texts.get(path, ""))
            if not source.strip() or path in failed:
                continue
            try:
                link = render_source(source, resolved)
            except RenderError as error:
                out.add(path, str(error))
                failed.add(path)
                continue
            if not link.startswith("https://"):
                out.add(path, f"links must be https; with {label} this renders {link[:60]!r}")
                failed.add(path)
        if isinstance(body, TextBody) and ("content",) not in failed:
            try:
                size = len(render_source(body.content, resolved).encode("utf-8"))
            except RenderError as error:
                out.add(("content",), str(error))
                failed.add(("content",))
                continue
            if size > TEXT_MAX_BYTES:
                limit = f"WeChat accepts at most {TEXT_MAX_BYTES} bytes"
                out.add(("content",), f"renders to {size} bytes with {label}; {limit}")
                failed.add(("content",))
