"""Import behaviour: exactly once, updates, dry runs, rejects, profiles, events."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from base.clock import FakeClock
from base.settings import Settings
from base.vault import PhoneVault
from identity.export import export_subject
from identity.subjects import find_subject
from journeys.enrolment import ORDER_ENROLS_WITHIN
from orders.aggregates import refresh_profiles
from orders.writer import EVENTS_WITHIN
from storage.db import Database
from tests.orders import builders
from tests.orders.helpers import count, events, link_follower, orders_by_no, profiles, rows, run_import

pytestmark = pytest.mark.storage


# Recent enough for all but the first of `_three_orders` to have their domain events written.
_A_DAY_AFTER_THE_LAST_ORDER = datetime(2025, 12, 26, tzinfo=UTC)


def _three_orders(tmp_path: Path, name: str = "a.csv", *, second_status: str = "买家已付款，等待卖家发货") -> Path:
    return builders.tmall_csv(
        tmp_path / name,
        [
            builders.tmall_row("1001", "13800138000", paid="100.00", created="2025-11-01 10:00:00", title="面霜"),
            builders.tmall_row(
                "1002", "13800138000", paid="250.00", status=second_status, created="2025-12-20 10:00:00", title="精华"
            ),
            builders.tmall_row("1003", "13900139000", paid="30.00", created="2025-12-25 10:00:00", name="李四"),
        ],
    )


async def test_same_file_twice_changes_nothing(db: Database, tmp_path: Path) -> None:
    path = _three_orders(tmp_path)
    first = await run_import(db, path)
    before = (await orders_by_no(db), await profiles(db), await events(db))
    again = await run_import(db, path, clock=FakeClock(datetime(2026, 2, 1, tzinfo=UTC)))
    assert (first.orders_created, first.profiles_created) == (3, 2)
    assert (again.orders_created, again.orders_updated, again.orders_unchanged) == (0, 0, 3)
    assert (again.profiles_created, again.profiles_updated) == (0, 0)
    after_orders, after_profiles, after_events = await orders_by_no(db), await profiles(db), await events(db)
    assert after_orders == before[0]
    assert after_events == before[2]
    # Only the recency score may move with the clock; the purchase history stays the same.
    assert [p["order_count"] for p in after_profiles] == [p["order_count"] for p in before[1]]
    assert await count(db, "import_runs") == 2


async def test_later_export_updates_status_and_amounts(db: Database, tmp_path: Path) -> None:
    clock = FakeClock(_A_DAY_AFTER_THE_LAST_ORDER)
    await run_import(db, _three_orders(tmp_path), clock=clock)
    later = _three_orders(tmp_path, "b.csv", second_status="交易成功")
    report = await run_import(db, later, clock=clock)
    assert (report.orders_created, report.orders_updated, report.orders_unchanged) == (0, 1, 2)
    assert report.profiles_updated == 1
    assert (await orders_by_no(db))["1002"]["status"] == "completed"
    kinds = [(e["kind"], e["payload"]["order_no"]) for e in await events(db) if e["kind"] == "order_completed"]
    assert ("order_completed", "1002") in kinds


async def test_profile_aggregates_rfm_and_segment(db: Database, tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 1, 5, tzinfo=UTC))
    await run_import(db, _three_orders(tmp_path, second_status="交易成功"), clock=clock)
    vault = PhoneVault()
    by_key = {p["phone_key"]: p for p in await profiles(db)}
    buyer = by_key[vault.lookup_key("+8613800138000")]
    assert (buyer["order_count"], buyer["total_spent_fen"], buyer["avg_order_fen"]) == (2, 35000, 17500)
    assert buyer["first_order_at"] == datetime(2025, 11, 1, 2, 0, tzinfo=UTC)
    assert buyer["last_order_at"] == datetime(2025, 12, 20, 2, 0, tzinfo=UTC)
    assert buyer["last_product"] == "精华"
    assert set(buyer["top_products"]) == {"面霜", "精华"}
    assert (buyer["r_score"], buyer["f_score"], buyer["m_score"]) == (5, 2, 3)
    assert (buyer["segment"], buyer["lifecycle_stage"]) == ("active", "repeat")
    assert (buyer["name"], buyer["city"], buyer["phone_masked"]) == ("张三", "杭州市", "138****8000")
    newcomer = by_key[vault.lookup_key("+8613900139000")]
    assert (newcomer["segment"], newcomer["lifecycle_stage"]) == ("new", "first_purchase")


async def test_top_products_rank_by_orders_then_the_newest(db: Database, tmp_path: Path) -> None:
    phone = "13800138000"
    bought = [("2001", "面霜", "2025-03-01"), ("2002", "面霜", "2025-04-01"), ("2003", "精华", "2025-05-01")]
    bought += [("2004", "精华", "2025-06-01"), ("2005", "眼霜", "2025-07-01"), ("2006", "乳液", "2025-08-01")]
    bought += [("2007", "面膜", "2025-02-01"), ("2008", "面膜", "2025-01-01"), ("2009", "面膜", "2025-01-15")]
    rows = [builders.tmall_row(no, phone, title=title, created=f"{day} 10:00:00") for no, title, day in bought]
    clock = FakeClock(datetime(2025, 9, 1, tzinfo=UTC))
    await run_import(db, builders.tmall_csv(tmp_path / "a.csv", rows), clock=clock)
    (buyer,) = await profiles(db)
    # Most orders first; between equals the one bought most recently; the latest purchase is the last product.
    assert buyer["top_products"] == ["面膜", "精华", "面霜"]
    assert buyer["last_product"] == "乳液"
    assert (buyer["order_count"], buyer["first_order_at"]) == (9, datetime(2025, 1, 1, 2, 0, tzinfo=UTC))
    assert buyer["last_order_at"] == datetime(2025, 8, 1, 2, 0, tzinfo=UTC)


async def test_re_scoring_unchanged_profiles_writes_nothing(db: Database, tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 1, 5, tzinfo=UTC))
    await run_import(db, _three_orders(tmp_path, second_status="交易成功"), clock=clock)
    before = await profiles(db)
    ids = [p["id"] for p in before]
    assert await refresh_profiles(db, ids, clock.now()) == 0
    for number, profile_id in enumerate(ids):
        await link_follower(db, profile_id, f"o-{number}", clock)
    # A year on, the recency scores fall: both profiles change, and each enters a new segment once.
    later = datetime(2027, 1, 5, tzinfo=UTC)
    assert await refresh_profiles(db, ids, later) == 2
    assert await refresh_profiles(db, ids, later) == 0
    moved = [p["segment"] for p in await profiles(db)]
    assert moved == ["lapsed", "lapsed"]
    entered = sorted(e["payload"]["previous"] for e in await events(db) if e["payload"].get("segment") == "lapsed")
    assert entered == ["active", "new"]


async def test_events_once_each_and_never_again(db: Database, tmp_path: Path) -> None:
    path = _three_orders(tmp_path)
    clock = FakeClock(_A_DAY_AFTER_THE_LAST_ORDER)
    await run_import(db, path, clock=clock)
    await run_import(db, path, clock=clock)
    stored = await events(db)
    kinds = sorted((e["kind"], e["payload"].get("order_no")) for e in stored if e["kind"] != "segment_entered")
    # 1001 (ordered 2025-11-01, confirmed 2025-12-05) is older than the journeys' window: no event, but it
    # is the buyer's first purchase, so 1002 is a repeat.
    assert kinds == [("first_purchase", "1003"), ("order_completed", "1003"), ("repeat_purchase", "1002")]
    # No follower is linked to these buyers yet: their segments change, but that reaches nobody.
    assert [e for e in await events(db) if e["kind"] == "segment_entered"] == []
    first = next(e for e in await events(db) if e["kind"] == "first_purchase")
    assert first["payload"] == {
        "order_no": "1003",
        "platform": "tmall",
        "amount_fen": 3000,
        "product": "玻尿酸面霜",
        "ordered_at": "2025-12-25T02:00:00+00:00",
    }
    buyer = next(p for p in await profiles(db) if p["name"] == "张三")
    assert (buyer["order_count"], buyer["first_order_at"]) == (2, datetime(2025, 11, 1, 2, 0, tzinfo=UTC))


async def test_orders_older_than_the_journeys_window_write_no_events(db: Database, tmp_path: Path) -> None:
    """They still make the profile, its totals, RFM and segment; only the domain events are left out."""
    assert EVENTS_WITHIN == ORDER_ENROLS_WITHIN
    report = await run_import(db, _three_orders(tmp_path), clock=FakeClock(datetime(2026, 3, 1, tzinfo=UTC)))
    assert (report.orders_created, report.profiles_created) == (3, 2)
    assert await events(db) == []
    buyer = next(p for p in await profiles(db) if p["name"] == "张三")
    assert (buyer["order_count"], buyer["total_spent_fen"], buyer["segment"]) == (2, 35000, "active")


async def test_a_segment_change_is_an_event_only_for_a_profile_a_follower_is_linked_to(
    db: Database, tmp_path: Path
) -> None:
    """A shop's first import would otherwise queue an event per buyer that no journey can use; a
    follower who binds later is enrolled by the segment scan instead."""
    clock = FakeClock(datetime(2026, 1, 5, tzinfo=UTC))
    await run_import(db, _three_orders(tmp_path, second_status="交易成功"), clock=clock)
    followed, alone = [p["id"] for p in await profiles(db)]
    await link_follower(db, followed, "o-bound", clock)
    await refresh_profiles(db, [followed, alone], datetime(2027, 1, 5, tzinfo=UTC))
    entered = [e["profile_id"] for e in await events(db) if e["kind"] == "segment_entered"]
    assert entered == [followed]


async def test_refund_emits_order_refunded(db: Database, tmp_path: Path) -> None:
    clock = FakeClock(_A_DAY_AFTER_THE_LAST_ORDER)
    await run_import(db, _three_orders(tmp_path), clock=clock)
    refunded = builders.tmall_csv(
        tmp_path / "r.csv", [builders.tmall_row("1003", "13900139000", paid="30.00", status="交易关闭", refund="30.00",
                                                created="2025-12-25 10:00:00", name="李四")]
    )  # fmt: skip
    await run_import(db, refunded, clock=clock)
    assert (await orders_by_no(db))["1003"]["status"] == "refunded"
    refunds = [e for e in await events(db) if e["kind"] == "order_refunded"]
    assert [(e["payload"]["order_no"], e["payload"]["amount_fen"]) for e in refunds] == [("1003", 3000)]
    newcomer = next(p for p in await profiles(db) if p["name"] == "李四")
    assert (newcomer["order_count"], newcomer["segment"]) == (0, "prospect")


async def test_dry_run_reports_the_same_counts_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    path = _three_orders(tmp_path)
    dry = await run_import(db, path, dry_run=True)
    for table in ("orders", "profiles", "domain_events", "import_runs", "import_rejects"):
        assert await count(db, table) == 0
    real = await run_import(db, path)
    assert dry.counts() == real.counts()
    assert dry.run_id is None and dry.dry_run


async def test_dry_run_counts_orders_repeated_across_batches_as_a_real_run_does(db: Database, tmp_path: Path) -> None:
    rows = [
        builders.tmall_row("3001", "13800138000", status="买家已付款，等待卖家发货"),
        builders.tmall_row("3002", "13900139000"),
        builders.tmall_row("3003", "13700137000"),
        builders.tmall_row("3001", "13800138000"),  # the same order, completed since: updated
        builders.tmall_row("3002", "13900139000"),  # the same order again: unchanged
        builders.tmall_row("3004", "13800138000"),  # a buyer of an earlier batch: no new profile
    ]
    path = builders.tmall_csv(tmp_path / "repeats.csv", rows)
    await run_import(db, _three_orders(tmp_path))  # a history in the database, too
    dry = await run_import(db, path, dry_run=True, batch_size=2)
    real = await run_import(db, path, batch_size=2)
    assert (real.orders_created, real.orders_updated, real.orders_unchanged) == (4, 1, 1)
    assert real.profiles_created == 1  # only 13700137000 is new
    assert dry.counts() == real.counts()


async def test_bad_rows_are_rejected_kept_and_the_rest_imported(db: Database, tmp_path: Path) -> None:
    path = builders.tmall_csv(
        tmp_path / "bad.csv",
        [
            builders.tmall_row("2001", "13800138000"),
            builders.tmall_row("2002", "13800138000", paid="很多"),
            ["3.71234E+18", *builders.tmall_row("x", "13800138000")[1:]],
            builders.tmall_row("2004", "13800138000", status="火星状态"),
            builders.tmall_row("2005", "13800138000", created="2025-13-45 10:00:00"),
        ],
    )
    report = await run_import(db, path)
    assert report.orders_created == 1
    assert dict(report.rejects_by_reason) == {
        "bad_money": 1,
        "order_no_sci_notation": 1,
        "unknown_status": 1,
        "bad_time": 1,
    }
    stored = await rows(db, "SELECT line_no, reason FROM import_rejects ORDER BY line_no")
    assert [(r["line_no"], r["reason"]) for r in stored] == [
        (3, "bad_money"),
        (4, "order_no_sci_notation"),
        (5, "unknown_status"),
        (6, "bad_time"),
    ]
    run = (await rows(db, "SELECT state, rejected, orders_created FROM import_runs"))[0]
    assert (run["state"], run["rejected"], run["orders_created"]) == ("completed", 4, 1)


async def test_an_items_file_does_not_erase_what_the_orders_file_said(db: Database, tmp_path: Path) -> None:
    await run_import(db, _three_orders(tmp_path))
    items = builders.write_csv(
        tmp_path / "ExportOrderDetailList.csv",
        [["订单编号", "标题", "价格", "购买数量", "外部系统编号", "商品属性", "套餐信息", "备注", "订单状态",
          "商家编码"],
         ['="1001"', "面霜 50ml", "100.00", "1", "", "规格:50ml", "", "", "交易成功", "SKU-1"],
         ['="1001"', "小样", "0.00", "1", "", "", "", "", "交易成功", "SKU-2"]],
        "gb18030",
    )  # fmt: skip
    report = await run_import(db, items)
    assert report.preset == "tmall_items"
    order = (await orders_by_no(db))["1001"]
    assert order["products"] == ["面霜 50ml", "小样"]
    assert order["profile_id"] is not None and order["paid_fen"] == 10000
    assert order["receiver_name"] == "张三"


async def test_existing_profile_name_is_never_overwritten(db: Database, tmp_path: Path) -> None:
    await run_import(db, builders.tmall_csv(tmp_path / "1.csv", [builders.tmall_row("1", "13800138000", name="")]))
    assert (await profiles(db))[0]["name"] is None
    await run_import(db, builders.tmall_csv(tmp_path / "2.csv", [builders.tmall_row("2", "13800138000", name="甲")]))
    await run_import(db, builders.tmall_csv(tmp_path / "3.csv", [builders.tmall_row("3", "13800138000", name="乙")]))
    assert (await profiles(db))[0]["name"] == "甲"


async def test_with_a_data_key_phones_are_sealed_and_found_by_hash(db: Database, tmp_path: Path) -> None:
    key = base64.b64decode(base64.b64encode(bytes(range(32))))
    settings = Settings(data_key=key)
    await run_import(db, _three_orders(tmp_path), settings=settings)
    await run_import(db, _three_orders(tmp_path, "again.csv"), settings=settings)
    stored = await profiles(db)
    assert len(stored) == 2
    vault = PhoneVault(key)
    assert all(p["phone_key"] != vault.unseal(p["phone_sealed"]) for p in stored)
    assert sorted(vault.unseal(p["phone_sealed"]) for p in stored) == ["+8613800138000", "+8613900139000"]
    assert "13800138000" not in str(await rows(db, "SELECT * FROM profiles"))


async def test_progress_callback_reaches_the_whole_file(db: Database, tmp_path: Path) -> None:
    path = builders.tmall_csv(
        tmp_path / "many.csv", [builders.tmall_row(str(5000 + n), f"138{n:08d}") for n in range(50)]
    )
    seen: list[tuple[int, int, int]] = []
    from orders.importer import ImportOptions, import_file

    await import_file(
        db, Settings(), path, clock=FakeClock(), options=ImportOptions(batch_size=20),
        progress=lambda done, position, size: seen.append((done, position, size)),
    )  # fmt: skip
    assert [done for done, _position, _size in seen] == [20, 40, 50]
    assert seen[-1][1] == seen[-1][2] == path.stat().st_size
    assert await count(db, "orders") == 50


async def test_first_and_repeat_purchases_across_batches_and_runs(db: Database, tmp_path: Path) -> None:
    """The purchase history of a buyer spans batches of one run (kept by the writer) and earlier runs
    (read from the database): only the very first purchase ever is a first_purchase."""
    rows = [
        builders.tmall_row(str(5000 + n), "13800138000", created=f"2026-01-0{1 + n // 2} 1{n}:00:00") for n in range(5)
    ]
    await run_import(db, builders.tmall_csv(tmp_path / "a.csv", rows), batch_size=2)
    later = [builders.tmall_row("5100", "13800138000", created="2026-01-04 10:00:00")]
    await run_import(db, builders.tmall_csv(tmp_path / "b.csv", later), batch_size=2)
    purchases = sorted(
        (e["kind"], e["payload"]["order_no"]) for e in await events(db) if e["kind"].endswith("_purchase")
    )
    assert purchases == [("first_purchase", "5000")] + [
        ("repeat_purchase", str(n)) for n in (5001, 5002, 5003, 5004, 5100)
    ]


async def test_a_persons_data_export_names_the_cells_of_their_imported_orders(db: Database, tmp_path: Path) -> None:
    path = builders.tmall_csv(tmp_path / "t.csv", [builders.tmall_row("5001", "13800138000", name="钱七")])
    await run_import(db, path)
    async with db.session() as session:
        subject = await find_subject(session, PhoneVault(), "13800138000")
        document = await export_subject(session, subject, now=datetime(2026, 1, 1, tzinfo=UTC))
    (order,) = document["orders"]
    (cells,) = order["raw"]
    # As exported, Excel guard included.
    assert (cells["订单编号"], cells["收货人姓名"], cells["联系手机"]) == ('="5001"', "钱七", "13800138000")
