"""Re-importing an old export after an erasure must not bring the erased person back."""

from __future__ import annotations

from pathlib import Path

from base.clock import FakeClock
from base.vault import PhoneVault
from identity.erase import erase_subject
from identity.subjects import find_subject
from orders.erased import REASON
from storage.db import Database
from tests.orders.builders import tmall_csv, tmall_row
from tests.orders.helpers import orders_by_no, run_import


async def test_erased_buyer_is_not_imported_again(db: Database, tmp_path: Path) -> None:
    clock = FakeClock()
    export = tmall_csv(
        tmp_path / "ExportOrderList202601010000.csv",
        [tmall_row("1001", "13712345678", name="张三丰"), tmall_row("1002", "13800138000", name="李四")],
    )
    await run_import(db, export, clock)
    async with db.transaction() as session:
        subject = await find_subject(session, PhoneVault(), "13712345678")
        await erase_subject(session, subject, actor="admin:dpo", now=clock.now())

    again = await run_import(db, export, clock)

    assert again.rejects_by_reason[REASON] == 1
    orders = await orders_by_no(db)
    assert "张三丰" not in repr(orders) and "13712345678" not in repr(orders)
    assert orders["1002"]["receiver_name"] == "李四"
