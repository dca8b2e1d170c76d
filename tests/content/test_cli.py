"""`scrm content ...` and `scrm journeys preview` against a temporary SQLite database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import content
from base.clock import SystemClock
from scrm.cli.main import main
from storage.db import Database
from storage.models.core import Follower, Profile

SEED = str(Path(content.__file__).parent / "seed")


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SCRM_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no stray .env is read

    async def create() -> None:
        # Migrations first (as every command does), then any table they do not create yet.
        db = Database(url)
        await db.create_all()
        await db.dispose()

    assert main(["db", "upgrade"]) == 0
    asyncio.run(create())
    return url


def _add_follower(url: str) -> None:
    async def add() -> None:
        db = Database(url)
        now = SystemClock().now()
        async with db.transaction() as session:
            profile = Profile(
                phone_key="+8613912345678",
                phone_sealed="+8613912345678",
                phone_masked="139****5678",
                name="赵先生",
                order_count=0,
                created_at=now,
                updated_at=now,
            )
            session.add(profile)
            await session.flush()
            session.add(
                Follower(
                    appid="wx1234567890abcdef",
                    openid="oFOLLOWER1",
                    profile_id=profile.id,
                    subscribed_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
        await db.dispose()

    asyncio.run(add())


def test_validate_reports_every_problem_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["content", "validate", SEED]) == 0
    assert "ok - 17 templates, 2 journeys" in capsys.readouterr().out
    bad = tmp_path / "bad"
    (bad / "templates").mkdir(parents=True)
    (bad / "templates" / "a.yaml").write_text("name: a\nkind: text\ncontent: 关注有礼！\n", encoding="utf-8")
    assert main(["content", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad/templates/a.yaml:3: content: wording WeChat penalises: 关注有礼" in out
    assert "1 problem(s); nothing was saved" in out


def test_load_saves_once_then_finds_nothing_changed(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["content", "load", SEED]) == 0
    assert "templates: 17 new, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert main(["content", "load", SEED]) == 0
    out = capsys.readouterr().out
    assert "templates: 0 new, 0 updated, 17 unchanged" in out and "journeys: 0 new, 0 updated, 2 unchanged" in out


def test_render_masks_the_phone_and_uses_the_profile(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["content", "load", SEED]) == 0
    _add_follower(database)
    capsys.readouterr()
    assert main(["content", "render", "welcome_text", "--profile", "139 1234 5678"]) == 0
    out = capsys.readouterr().out
    assert "profile 139****5678" in out and "13912345678" not in out
    assert "赵先生，欢迎来到茶语 CHAYU！" in out
    assert main(["content", "render", "points_credited", "--profile", "oFOLLOWER1", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"touser": "oFOLLOWER1"' in out and "赵先生，您的购物积分已到账" in out


def test_render_refuses_unknown_things_with_one_line(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["content", "render", "nope"]) == 2
    assert capsys.readouterr().err.strip() == "scrm: no template named 'nope'"
    assert main(["content", "load", SEED]) == 0
    assert main(["content", "render", "welcome_text", "--profile", "13800000000"]) == 2
    assert "no profile has that phone number" in capsys.readouterr().err


def test_coupons_load_and_list(database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    codes = tmp_path / "codes.txt"
    codes.write_text("# spring\nSPRING-1\nSPRING-2\nSPRING-2\n", encoding="utf-8")
    assert main(["content", "coupons", "spring", str(codes), "--low-water-mark", "5"]) == 0
    out = capsys.readouterr().out
    assert "spring: 2 new codes" in out and "spring: 2 of 2 left (warn at 5)  LOW" in out
    assert main(["content", "coupons", "spring"]) == 2


def test_journey_preview_for_a_follower_marks_held_and_expired_pushes(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["content", "load", SEED]) == 0
    _add_follower(database)
    capsys.readouterr()
    code = main(
        [
            "journeys",
            "preview",
            "new_follower",
            "--follower",
            "oFOLLOWER1",
            "--start",
            "2026-01-05T20:00",
            "--messages-at",
            "2026-01-07T12:00",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "journey new_follower for follower oFOLLOWER1, from 2026-01-05 20:00 China time:" in out
    assert "held: no customer-service window open; delivered at next interaction (01-07 12:00)" in out
    assert "has_purchased: no -> coupon" in out
    assert "expired: no customer-service window open" in out
    assert "赵先生，送你一张茶语新客专享券：〈new_follower_20 券码〉" in out
    assert main(["journeys", "preview", "new_follower", "--start", "yesterday"]) == 2
    assert "--start must be an ISO time" in capsys.readouterr().err


def test_journey_preview_from_a_directory_needs_no_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journeys", "preview", "after_purchase", "--dir", SEED, "--start", "2026-01-05T10:00"]) == 0
    out = capsys.readouterr().out
    assert "template message (service notice): no window needed" in out
    assert main(["journeys", "preview", "nope", "--dir", SEED]) == 2


def test_journey_preview_with_clicks_decides_the_click_branch(capsys: pytest.CaptureFixture[str]) -> None:
    common = ["journeys", "preview", "new_follower", "--dir", SEED, "--start", "2026-01-05T10:00",
              "--messages-at", "2026-01-09T09:00"]  # fmt: skip
    assert main([*common, "--clicks", "product_info:3"]) == 0
    out = capsys.readouterr().out
    assert "clicked product_info within 48h: yes -> three_days" in out
    assert "[product_reminder]" not in out
    assert main(common) == 0
    out = capsys.readouterr().out
    assert "wait for a click until" in out and "clicked product_info within 48h: no -> product_reminder" in out
    assert main([*common, "--clicks", "brand_storyy"]) == 2
    assert "'brand_storyy' is not a send step of new_follower" in capsys.readouterr().err
