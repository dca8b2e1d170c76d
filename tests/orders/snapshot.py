"""The business state an import leaves behind, free of ids, run ids and write times, for comparisons."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.orders import DOMAIN_EVENTS, ORDERS
from storage.profiles import PROFILES

_VOLATILE_ORDER = {"id", "import_run_id", "created_at", "updated_at", "profile_id"}
_VOLATILE_PROFILE = {"id", "created_at", "updated_at"}


async def business_state(db: Database) -> dict[str, Any]:
    """Orders, profiles and domain events, with profiles referred to by phone key instead of id."""
    async with db.engine.connect() as conn:
        profiles = [dict(row._mapping) for row in await conn.execute(select(PROFILES))]
        key_of = {profile["id"]: profile["phone_key"] for profile in profiles}
        orders = [dict(row._mapping) for row in await conn.execute(select(ORDERS))]
        events = [dict(row._mapping) for row in await conn.execute(select(DOMAIN_EVENTS))]
    return {
        "orders": sorted(
            (
                {**{k: v for k, v in order.items() if k not in _VOLATILE_ORDER}, "who": key_of.get(order["profile_id"])}
                for order in orders
            ),
            key=lambda order: (order["platform"], order["order_no"]),
        ),
        "profiles": sorted(
            ({k: v for k, v in p.items() if k not in _VOLATILE_PROFILE} for p in profiles),
            key=lambda profile: profile["phone_key"],
        ),
        "events": sorted(
            (
                (
                    e["kind"],
                    e["dedup_key"],
                    key_of.get(e["profile_id"]),
                    e["occurred_at"],
                    repr(sorted(e["payload"].items())),
                )  # noqa: E501
                for e in events
            ),
        ),
    }
