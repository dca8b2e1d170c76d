"""Reading a content directory: templates, journeys, replies and coupon pools written as YAML.

    DIR/templates/*.yaml   one template per file (name, description, kind, purpose, ...), or a list
    DIR/journeys/*.yaml    one journey per file (content.model.JourneyDefinition), or a list
    DIR/replies.yaml       welcome, keyword, menu, scan and help replies (also DIR/replies/*.yaml)
    DIR/coupons/*.yaml     coupon pools: name, description, low_water_mark, codes

Everything is validated together, so a journey may send a template written in the same directory.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from content.issues import Issue, issues_from_pydantic
from content.journey_checks import TemplateInfo, template_info, validate_journey
from content.model import JourneyDefinition
from content.replies import ReplySpec, replies_from_file
from content.templates import TemplateBody
from content.validation import validate_template_body
from content.yamlsource import SourceMap, YamlError, load_yaml_file

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True)
class LoadedTemplate:
    name: str
    description: str
    body: TemplateBody
    where: str


class PoolSpec(BaseModel):
    """A coupon pool as written in coupons/*.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    low_water_mark: int = Field(default=50, ge=0)
    codes: tuple[str, ...] = ()


@dataclass
class ContentBundle:
    """A whole content directory, validated. Nothing may be loaded while `issues` is not empty."""

    root: Path
    templates: dict[str, LoadedTemplate] = field(default_factory=dict)
    journeys: dict[str, JourneyDefinition] = field(default_factory=dict)
    replies: list[ReplySpec] = field(default_factory=list)
    has_replies: bool = False
    pools: dict[str, PoolSpec] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues


def _files(root: Path, folder: str) -> list[Path]:
    directory = root / folder
    if not directory.is_dir():
        return []
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def _documents(data: Any) -> Iterator[tuple[tuple[int, ...], Any]]:
    """A file holds one mapping, or a list of them."""
    if isinstance(data, list):
        for index, item in enumerate(data):
            yield (index,), item
    else:
        yield (), data


def _read(path: Path, root: Path, bundle: ContentBundle) -> tuple[Any, SourceMap] | None:
    display = str(path.relative_to(root.parent)) if root.parent != path else str(path)
    try:
        return load_yaml_file(path, display)
    except YamlError as error:
        bundle.issues.append(Issue(error.path, "", error.problem, error.line))
        return None


def read_content_dir(
    root: Path,
    *,
    known_templates: Mapping[str, TemplateInfo] | None = None,
    known_pools: Collection[str] = (),
) -> ContentBundle:
    """Read and validate every file of a content directory.

    `known_templates` / `known_pools` are what already exists (in the database) beside the directory.
    """
    bundle = ContentBundle(root)
    if not root.is_dir():
        bundle.issues.append(Issue(str(root), "", "no such content directory"))
        return bundle
    for path in _files(root, "templates"):
        _read_templates(path, root, bundle)
    for path in _files(root, "coupons"):
        _read_pools(path, root, bundle)
    catalog = dict(known_templates or {})
    catalog.update({name: template_info(name, loaded.body) for name, loaded in bundle.templates.items()})
    pools = set(known_pools) | set(bundle.pools)
    for path in _files(root, "journeys"):
        _read_journeys(path, root, bundle, catalog, pools)
    reply_files = [root / name for name in ("replies.yaml", "replies.yml") if (root / name).is_file()]
    for path in [*reply_files, *_files(root, "replies")]:
        loaded = _read(path, root, bundle)
        if loaded is None:
            continue
        bundle.has_replies = True
        specs, issues = replies_from_file(loaded[0], loaded[1], catalog)
        bundle.replies.extend(specs)
        bundle.issues.extend(issues)
    if not (bundle.templates or bundle.journeys or bundle.has_replies or bundle.pools or bundle.issues):
        bundle.issues.append(Issue(str(root), "", "no templates/, journeys/, coupons/ or replies.yaml found"))
    return bundle


def _read_templates(path: Path, root: Path, bundle: ContentBundle) -> None:
    loaded = _read(path, root, bundle)
    if loaded is None:
        return
    data, source = loaded
    for base, raw in _documents(data):
        if not isinstance(raw, dict):
            bundle.issues.append(
                Issue(source.path, "", "a template is a mapping (name, kind, ...)", source.line_of(base))
            )
            continue
        doc = dict(raw)
        name = str(doc.pop("name", "") or "")
        description = str(doc.pop("description", "") or "")
        if not name or not set(name) <= _NAME_CHARS or len(name) > 100:
            message = "each template needs a name of letters, digits, _ or - (at most 100)"
            bundle.issues.append(Issue(source.path, "name", message, source.line_of((*base, "name"))))
            continue
        if name in bundle.templates:
            message = f"template {name} is already defined in {bundle.templates[name].where}"
            bundle.issues.append(Issue(source.path, "name", message, source.line_of((*base, "name"))))
            continue
        body, issues = validate_template_body(doc, source.path, source=source, base=base)
        bundle.issues.extend(issues)
        if body is not None:
            bundle.templates[name] = LoadedTemplate(name, description, body, source.path)


def _read_pools(path: Path, root: Path, bundle: ContentBundle) -> None:
    loaded = _read(path, root, bundle)
    if loaded is None:
        return
    data, source = loaded
    for base, raw in _documents(data):
        try:
            pool = PoolSpec.model_validate(raw)
        except ValidationError as error:
            bundle.issues.extend(issues_from_pydantic(error, source.path, source=source, base=base))
            continue
        if pool.name in bundle.pools:
            line = source.line_of((*base, "name"))
            bundle.issues.append(Issue(source.path, "name", f"coupon pool {pool.name} is defined twice", line))
            continue
        bundle.pools[pool.name] = pool


def _read_journeys(
    path: Path, root: Path, bundle: ContentBundle, catalog: Mapping[str, TemplateInfo], pools: Collection[str]
) -> None:
    loaded = _read(path, root, bundle)
    if loaded is None:
        return
    data, source = loaded
    for base, raw in _documents(data):
        if base:
            # Journeys in a list: report against a source map re-rooted at the item.
            item_source = SourceMap(
                source.path, {key[1:]: spot for key, spot in source.spots.items() if key[:1] == base}
            )
        else:
            item_source = source
        if not isinstance(raw, dict):
            bundle.issues.append(Issue(source.path, "", "a journey is a mapping (name, trigger, steps...)"))
            continue
        journey, issues = validate_journey(raw, source.path, templates=catalog, pools=pools, source=item_source)
        bundle.issues.extend(issues)
        if journey is None:
            continue
        if journey.name in bundle.journeys:
            line = item_source.line_of(("name",))
            bundle.issues.append(Issue(source.path, "name", f"journey {journey.name} is defined twice", line))
            continue
        bundle.journeys[journey.name] = journey
