"""Putting content into the database: a whole validated directory, or one journey from the console.

Unchanged items (same content hash) are left untouched, so loading the same directory twice writes
nothing and pushes keep pointing at the versions they rendered.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from content.cache import notify_content_changed
from content.issues import ContentError
from content.journey_checks import validate_journey
from content.loader import ContentBundle, PoolSpec
from publishing.journey_versions import load_yaml_journey, save_journey
from publishing.versions import save_valid_template, template_catalog
from storage import content as store
from storage.db import Database
from storage.models.content import CouponPool, Journey, ReplyRule

__all__ = ["LoadReport", "load_bundle", "save_journey", "save_journey_doc", "save_pool"]


@dataclass
class LoadReport:
    """What a load did, counted per kind: "new", "updated", "unchanged"."""

    templates: Counter[str] = field(default_factory=Counter)
    journeys: Counter[str] = field(default_factory=Counter)
    pools: Counter[str] = field(default_factory=Counter)
    codes_added: int = 0
    reply_rules: int | None = None  # None: the directory had no replies, existing rules were kept
    # Journeys whose YAML did not change since a console edit: the console's version stays live.
    kept_journeys: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        def counts(counter: Counter[str]) -> str:
            return ", ".join(f"{counter[key]} {key}" for key in ("new", "updated", "unchanged"))

        out = [
            f"templates: {counts(self.templates)}",
            f"journeys: {counts(self.journeys)}",
            f"coupon pools: {counts(self.pools)}; {self.codes_added} codes added",
        ]
        if self.kept_journeys:
            names = ", ".join(self.kept_journeys)
            out.append(f"journeys kept as edited in the console (their files did not change): {names}")
        if self.reply_rules is not None:
            out.append(f"reply rules: {self.reply_rules}")
        return out


async def save_journey_doc(session: AsyncSession, doc: dict[str, Any], *, now: datetime, by: str = "") -> Journey:
    """Validate a journey document against the stored templates and pools, then save it (the console)."""
    catalog = await template_catalog(session)
    pools = [pool.name for pool in await store.list_pools(session)]
    name = str(doc.get("name", "")) if isinstance(doc, dict) else ""
    journey, issues = validate_journey(doc, f"journey {name}".strip(), templates=catalog, pools=pools)
    if journey is None:
        raise ContentError(issues)
    row, _status = await save_journey(session, journey, now=now, by=by)
    return row


async def save_pool(session: AsyncSession, spec: PoolSpec, *, now: datetime) -> tuple[CouponPool, str, int]:
    """Create or update a pool and add the codes it does not have; returns (pool, status, codes added)."""
    pool = await store.pool_by_name(session, spec.name)
    status = "unchanged"
    if pool is None:
        pool = CouponPool(name=spec.name, description=spec.description, created_at=now)
        status = "new"
    elif (pool.description, pool.low_water_mark) != (spec.description, spec.low_water_mark):
        status = "updated"
    pool.description, pool.low_water_mark = spec.description, spec.low_water_mark
    session.add(pool)
    await session.flush()
    added = await store.add_codes(session, pool, spec.codes, now)
    if added and status == "unchanged":
        status = "updated"
    return pool, status, added


async def load_bundle(session: AsyncSession, bundle: ContentBundle, *, now: datetime, by: str = "") -> LoadReport:
    """Write a validated bundle in the caller's transaction (ContentError, nothing written, if it has issues)."""
    if bundle.issues:
        raise ContentError(bundle.issues)
    report = LoadReport()
    for loaded in bundle.templates.values():
        saved = await save_valid_template(
            session, loaded.name, loaded.body, now=now, by=by, publish=True, description=loaded.description
        )
        report.templates["new" if saved.created else "updated" if saved.changed else "unchanged"] += 1
    for spec in bundle.pools.values():
        _pool, status, added = await save_pool(session, spec, now=now)
        report.pools[status] += 1
        report.codes_added += added
    for journey in bundle.journeys.values():
        _row, status = await load_yaml_journey(session, journey, now=now, by=by)
        if status == "kept":
            report.kept_journeys.append(journey.name)
            status = "unchanged"
        report.journeys[status] += 1
    if bundle.has_replies:
        report.reply_rules = 0
        for appid in sorted({spec.appid for spec in bundle.replies} or {""}):
            rules = [
                ReplyRule(
                    appid=spec.appid,
                    kind=spec.kind,
                    match_key=spec.match_key,
                    match_mode=spec.match_mode,
                    template_name=spec.template,
                    priority=spec.priority,
                    updated_at=now,
                )
                for spec in bundle.replies
                if spec.appid == appid
            ]
            report.reply_rules += await store.replace_reply_rules(session, appid, rules)
    notify_content_changed()
    return report


async def load_directory(db: Database, root: Path, *, now: datetime, by: str = "") -> LoadReport:
    """Validate a content directory against what the database already holds, then load it in one
    transaction. Raises ContentError listing every problem, writing nothing."""
    from content.loader import read_content_dir

    async with db.session() as session:
        catalog = await template_catalog(session)
        pools = [pool.name for pool in await store.list_pools(session)]
    bundle = read_content_dir(root, known_templates=catalog, known_pools=pools)
    if bundle.issues:
        raise ContentError(bundle.issues)
    async with db.transaction() as session:
        return await load_bundle(session, bundle, now=now, by=by)
