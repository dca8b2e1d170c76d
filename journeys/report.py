"""Per journey and step: what happened to the pushes, and the orders and revenue attributed to them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.journey_report import (
    credited_orders_per_step,
    journey_names,
    pushes_per_step_and_status,
    runs_per_state,
    sent_after_hold_per_step,
)
from storage.reports import clicks_per_step

STATUS_COLUMNS = ("sent", "held", "pending", "expired", "skipped", "failed", "cancelled", "unknown")


async def journey_report(session: AsyncSession) -> list[dict[str, Any]]:
    """One entry per journey with runs or pushes: runs by state and steps with counts, orders, revenue."""
    names = await journey_names(session)
    steps: dict[tuple[int, int, str], dict[str, Any]] = {}

    def step_row(journey_id: int, index: int, key: str) -> dict[str, Any]:
        return steps.setdefault(
            (journey_id, index, key),
            {"step": key, "index": index, **dict.fromkeys(STATUS_COLUMNS, 0), "delivered_after_hold": 0,
             "orders": 0, "revenue_fen": 0, "clicked": 0},
        )  # fmt: skip

    for journey_id, index, key, status, count in await pushes_per_step_and_status(session):
        bucket = "pending" if status in ("claimed", "sending") else status
        row = step_row(int(journey_id or 0), index, key)
        row[bucket] = row.get(bucket, 0) + int(count)
    for journey_id, index, key, count in await sent_after_hold_per_step(session):
        step_row(int(journey_id or 0), index, key)["delivered_after_hold"] = int(count)
    for journey_id, index, key, amount, refunded in await credited_orders_per_step(session):
        row = step_row(int(journey_id or 0), index, key)
        row["orders"] += 1
        row["revenue_fen"] += 0 if refunded else int(amount)
    for (journey_id, key), clicked in (await clicks_per_step(session)).items():
        for (j, _index, k), row in steps.items():
            if (j, k) == (journey_id, key):
                row["clicked"] = clicked
    for row in steps.values():
        # delivered -> clicked -> purchased, as rates of what was sent
        row["click_rate"] = round(row["clicked"] / row["sent"], 4) if row["sent"] else 0.0
        row["purchase_rate"] = round(row["orders"] / row["sent"], 4) if row["sent"] else 0.0
    runs: dict[int, dict[str, int]] = defaultdict(dict)
    for journey_id, state, count in await runs_per_state(session):
        runs[journey_id][state] = int(count)
    report: list[dict[str, Any]] = []
    for journey_id in sorted(set(runs) | {key[0] for key in steps}):
        journey_steps = sorted((v for k, v in steps.items() if k[0] == journey_id), key=lambda r: r["index"])
        report.append(
            {
                "journey_id": journey_id,
                "journey": names.get(journey_id, f"#{journey_id}"),
                "runs": dict(sorted(runs.get(journey_id, {}).items())),
                "steps": journey_steps,
                "orders": sum(s["orders"] for s in journey_steps),
                "revenue_fen": sum(s["revenue_fen"] for s in journey_steps),
            }
        )
    return report


def format_report(report: list[dict[str, Any]]) -> list[str]:
    """The report as aligned text lines (money in yuan)."""
    if not report:
        return ["no journey has run yet"]
    header = (
        f"{'step':<20}"
        + "".join(f"{c:>10}" for c in (*STATUS_COLUMNS, "clicked", "orders"))
        + f"{'revenue':>14}{'CTR':>8}{'conv.':>8}"
    )
    lines: list[str] = []
    for journey in report:
        runs = ", ".join(f"{state} {count}" for state, count in journey["runs"].items()) or "no runs"
        lines.append(f"journey {journey['journey']} (runs: {runs})")
        lines.append("  " + header)
        for step in journey["steps"]:
            cells = "".join(f"{step[c]:>10}" for c in (*STATUS_COLUMNS, "clicked", "orders"))
            rates = f"{step['click_rate']:>8.1%}{step['purchase_rate']:>8.1%}"
            lines.append(f"  {step['step']:<20}{cells}{step['revenue_fen'] / 100:>14.2f}{rates}")
        lines.append(f"  total: {journey['orders']} orders, {journey['revenue_fen'] / 100:.2f} yuan attributed")
    return lines
