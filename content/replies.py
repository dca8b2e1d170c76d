"""Automatic replies as written in replies.yaml: welcome (per QR scene), keywords, menu keys, scans, help.

    appid: wx...            # optional: these rules serve one account only
    welcome:
      default: welcome_text
      scenes: {store_shanghai: welcome_store}
    keywords:
      - keywords: [优惠券, 领券]
        mode: contains      # exact (default) or contains
        template: coupon_info
    menus: {MENU_STORY: brand_story}
    scans: {expo_2026: expo_welcome}
    help: help_text

Each reply names a template; replies go back inside WeChat's answer, so text, news or image only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from content.issues import Issue, issues_from_pydantic
from content.journey_checks import TemplateInfo
from content.yamlsource import SourceMap

REPLY_KINDS = frozenset({"text", "news", "image"})


def _text_keys(value: Any) -> Any:
    # YAML reads a numeric QR scene (`1001: welcome`) as an int key; scenes are strings to WeChat.
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeywordRule(_Strict):
    keywords: list[str] = Field(min_length=1)
    mode: Literal["exact", "contains"] = "exact"
    template: str
    priority: int = 0


class WelcomeRules(_Strict):
    default: str | None = None
    scenes: dict[str, str] = Field(default_factory=dict)

    _keys = field_validator("scenes", mode="before")(_text_keys)


class RepliesFile(_Strict):
    appid: str = ""
    welcome: WelcomeRules | None = None
    keywords: list[KeywordRule] = Field(default_factory=list)
    menus: dict[str, str] = Field(default_factory=dict)
    scans: dict[str, str] = Field(default_factory=dict)
    help: str | None = None

    _keys = field_validator("menus", "scans", mode="before")(_text_keys)


@dataclass(frozen=True)
class ReplySpec:
    """One rule, as stored in `reply_rules`."""

    appid: str
    kind: str  # welcome | keyword | menu | scan | help
    match_key: str
    match_mode: str
    template: str
    priority: int = 0


def normalise_keyword(text: str) -> str:
    """How keywords are compared: trimmed, case-folded, full-width spaces treated as spaces."""
    return " ".join(text.replace("\u3000", " ").split()).casefold()


def replies_from_file(
    data: Any, source: SourceMap, catalog: Mapping[str, TemplateInfo]
) -> tuple[list[ReplySpec], list[Issue]]:
    """Read one replies file into rules, checking every template it names."""
    if data is not None and not isinstance(data, dict):
        message = "a replies file is a mapping of welcome, keywords, menus, scans and help"
        return [], [Issue(source.path, "", message, source.line_of(()))]
    try:
        parsed = RepliesFile.model_validate(data if data is not None else {})
    except ValidationError as error:
        return [], issues_from_pydantic(error, source.path, source=source)
    issues: list[Issue] = []
    specs: list[ReplySpec] = []

    def rule(
        kind: str, key: str, template: str, at: tuple[str | int, ...], mode: str = "exact", priority: int = 0
    ) -> None:
        info = catalog.get(template)
        line = source.line_of(at)
        field = ".".join(str(part) for part in at)
        if info is None:
            issues.append(Issue(source.path, field, f"unknown template {template!r}", line))
            return
        if info.kind not in REPLY_KINDS:
            message = f"{template} is a {info.kind} template; a reply must be text, news or image"
            issues.append(Issue(source.path, field, message, line))
            return
        specs.append(ReplySpec(parsed.appid, kind, key, mode, template, priority))

    if parsed.welcome is not None:
        if parsed.welcome.default:
            rule("welcome", "", parsed.welcome.default, ("welcome", "default"))
        for scene, template in parsed.welcome.scenes.items():
            rule("welcome", scene, template, ("welcome", "scenes", scene))
    seen: dict[tuple[str, str], int] = {}
    for index, keyword_rule in enumerate(parsed.keywords):
        for word in keyword_rule.keywords:
            key = normalise_keyword(word)
            at: tuple[str | int, ...] = ("keywords", index, "keywords")
            if not key:
                issues.append(Issue(source.path, f"keywords[{index}].keywords", "an empty keyword", source.line_of(at)))
                continue
            if (key, keyword_rule.mode) in seen:
                message = f"keyword {word!r} is already answered by keywords[{seen[(key, keyword_rule.mode)]}]"
                issues.append(Issue(source.path, f"keywords[{index}].keywords", message, source.line_of(at)))
                continue
            seen[(key, keyword_rule.mode)] = index
            rule(
                "keyword",
                key,
                keyword_rule.template,
                ("keywords", index, "template"),
                keyword_rule.mode,
                keyword_rule.priority,
            )
    for menu_key, template in parsed.menus.items():
        rule("menu", menu_key, template, ("menus", menu_key))
    for scene, template in parsed.scans.items():
        rule("scan", scene, template, ("scans", scene))
    if parsed.help:
        rule("help", "", parsed.help, ("help",))
    return specs, issues
