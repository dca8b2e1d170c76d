"""Cells as they come, then one table per target, mode and connection count, and the product's ratios."""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from dataclasses import dataclass

from bench.targets import TARGETS
from bench.wrk_driver import CellResult

# The peers each product row is compared with, in this order.
RATIOS = (("werobot", "WeRoBot-gunicorn"), ("echo", "wechatpy echo"), ("bare", "ceiling"))


@dataclass(frozen=True)
class Measured:
    target: str
    mode: str
    connections: int
    round: int
    cell: CellResult
    cpu_seconds: float

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_seconds * 1000 / self.cell.requests if self.cell.requests else 0.0


def cell_line(m: Measured) -> str:
    c = m.cell
    late = f"late={c.late} other={c.other}" if TARGETS[m.target].replies else "late=n/a"
    # Only at --max-requests (bench/callbacks.py measures a used-up cell again with more): a lower bound.
    used_up = "  (requests used up: at least this rate; raise --max-requests)" if c.handshakes else ""
    return (
        f"round {m.round} {m.target:15} {m.mode:9} c={m.connections:<3} {c.rps:9,.0f} req/s  p50 {c.p50_ms:7.1f} ms"
        f"  p99 {c.p99_ms:7.1f} ms  non-2xx={c.non_2xx} socket={c.socket_errors} {late}"
        f"  CPU {m.cpu_ms_per_request:.2f} ms/req  load {os.getloadavg()[0]:.1f}{used_up}"
    )


def _key(m: Measured) -> tuple[str, str, int]:
    return m.target, m.mode, m.connections


def summary(measured: list[Measured]) -> str:
    """Mean req/s over rounds (min-max when several), median p50, worst p99, errors and late replies summed."""
    cells: dict[tuple[str, str, int], list[Measured]] = defaultdict(list)
    for m in measured:
        cells[_key(m)].append(m)
    lines = [
        f"{'target':34} {'mode':9} {'conns':>5} {'req/s':>9} {'(range)':>15} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'non-2xx':>7} {'socket':>6} {'late':>5} {'CPU ms/req':>10}"
    ]
    for (target, mode, connections), ms in cells.items():
        rates = [m.cell.rps for m in ms]
        spread = f"{min(rates):,.0f}-{max(rates):,.0f}" if len(rates) > 1 else ""
        late = str(sum(m.cell.late + m.cell.other for m in ms)) if TARGETS[target].replies else "n/a"
        lines.append(
            f"{TARGETS[target].label:34} {mode:9} {connections:>5} {statistics.fmean(rates):>9,.0f} {spread:>15} "
            f"{statistics.median(m.cell.p50_ms for m in ms):>8.1f} {max(m.cell.p99_ms for m in ms):>8.1f} "
            f"{sum(m.cell.non_2xx for m in ms):>7} {sum(m.cell.socket_errors for m in ms):>6} {late:>5} "
            f"{statistics.median(m.cpu_ms_per_request for m in ms):>10.2f}"
        )
    return "\n".join(lines)


def ratios(measured: list[Measured]) -> str:
    """Each product row's mean req/s over each peer's, cell by cell (same mode and connections)."""
    rates: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for m in measured:
        rates[_key(m)].append(m.cell.rps)
    mean = {key: statistics.fmean(values) for key, values in rates.items()}
    lines = []
    for (target, mode, connections), rate in mean.items():
        if not TARGETS[target].product and target != "gateway":
            continue
        parts = []
        for peer, label in RATIOS:
            peer_rate = mean.get((peer, mode, connections))
            if peer_rate:
                parts.append(f"/ {label} {rate / peer_rate:5.2f}x")
        plaintext = mean.get((target, "plaintext", connections))
        if mode == "click" and plaintext:
            parts.append(f"/ its plaintext callbacks {rate / plaintext:5.2f}x")
        if parts:
            lines.append(f"{target:8} {mode:9} c={connections:<3} " + "   ".join(parts))
    return "\n".join(lines)
