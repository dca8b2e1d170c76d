"""The day-in-the-life soak, short: `scrm demo --speed 120` on SQLite started as a user starts it, 120
followers over 14 demo days, a small order file uploaded through the console. It asserts correctness
only (every push sent once or with a recorded reason, no duplicate, nobody stuck, no HTTP error) and
prints the speed figures. `-m "not soak"` leaves it out; `python bench/soak.py` is the full one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.soak import SoakConfig, run_soak

pytestmark = pytest.mark.soak


def test_a_short_day_in_the_life(tmp_path: Path) -> None:
    config = SoakConfig(followers=120, rows=1500, days=14, speed=120, workdir=tmp_path, settle_seconds=60)
    figures = run_soak(config)
    print("\n".join(figures.lines(config)))
    assert figures.problems == []
    assert figures.bound > 0 and figures.pushes["sent"] > 0 and figures.rows_imported > 0
