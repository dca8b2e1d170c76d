"""Demo data, seeded once on the first `scrm demo`: the seed content, a console admin, and a small
Tmall order export, so every page of the console has something to show."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import random
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

import yaml

from base.clock import CHINA, Clock
from base.settings import Settings
from console.passwords import hash_password
from orders.importer import ImportOptions, import_file
from publishing.menu import publish_menu, save_menu
from publishing.publish import load_directory
from storage.console import create_user, list_users
from storage.db import Database
from storage.import_runs import has_import_runs
from storage.journeys import has_templates
from storage.menus import custom_menu
from wechat.api.client import WeChatAPI
from wechat.api.errors import WeChatError

SEED_CONTENT = Path(__file__).resolve().parents[1] / "content" / "seed"
# The sandbox account: fixed, so the simulator and any saved callback URL keep working across runs.
DEMO_ACCOUNT = {
    "wechat_appid": "wxd3m0sandbox00001",
    "wechat_appsecret": "demo-secret",
    "wechat_token": "scrmdemo",
    "wechat_aes_key": "c2NybWRlbW9zYW5kYm94a2V5Zm9yYWVzMjU2Y2JjMDA",
}
CREDENTIALS_FILE = Path("scrm-demo-login.txt")
log = logging.getLogger(__name__)

TMALL_HEADERS = [
    "订单编号", "买家会员名", "买家应付货款", "总金额", "买家实际支付金额", "订单状态", "收货人姓名", "收货地址 ",
    "联系电话 ", "联系手机", "订单创建时间", "订单付款时间 ", "宝贝标题 ", "宝贝总数量", "店铺名称", "退款金额",
    "确认收货时间", "打款商家金额",
]  # fmt: skip
PRODUCTS = ["明前龙井礼盒", "白茶饼 357g", "茶具旅行套装", "冷泡茶 12 袋装", "大红袍 250g"]
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄婷"]
CITIES = ["浙江省 杭州市 西湖区", "上海 上海市 徐汇区", "广东省 深圳市 南山区", "北京 北京市 朝阳区"]


async def seed_demo(db: Database, settings: Settings, clock: Clock) -> str:
    """Seed what is missing; returns how to log in to the console."""
    await _seed_content(db, clock)
    await _seed_menu(db, settings, clock)
    await _seed_orders(db, settings, clock)
    return await _seed_admin(db, clock)


async def _seed_content(db: Database, clock: Clock) -> None:
    async with db.session() as session:
        if await has_templates(session):
            return
    await load_directory(db, SEED_CONTENT, now=clock.now(), by="demo")


async def _seed_menu(db: Database, settings: Settings, clock: Clock) -> None:
    """The seed menu as the demo account's saved menu (published to the sandbox once the demo listens)."""
    async with db.session() as session:
        if await custom_menu(session, settings.wechat_appid) is not None:
            return
    doc = yaml.safe_load((SEED_CONTENT / "menu.yaml").read_text(encoding="utf-8"))
    await save_menu(db, settings.wechat_appid, doc, by="demo", now=clock.now())


async def publish_seed_menu(db: Database, api: WeChatAPI, appid: str, clock: Clock, *, attempts: int = 20) -> None:
    """Publish the saved menu through the API once this demo's server (and its fake WeChat) listens."""
    for _ in range(attempts):
        await asyncio.sleep(0.5)
        try:
            await publish_menu(db, api, appid, by="demo", now=clock.now())
        except LookupError:
            return  # nothing saved: nothing to publish
        except (OSError, WeChatError) as error:
            log.debug("seed menu not published yet: %s", error)
            continue
        return
    log.warning("the demo's menu could not be published to the sandbox's fake WeChat")


async def _seed_admin(db: Database, clock: Clock) -> str:
    async with db.session() as session:
        if await list_users(session):
            if await asyncio.to_thread(CREDENTIALS_FILE.is_file):
                return f"(login in {CREDENTIALS_FILE})"
            return "(log in with your console user; `scrm users passwd admin` resets it)"
    password = secrets.token_urlsafe(9)
    async with db.transaction() as session:
        await create_user(session, name="admin", role="admin", password_hash=hash_password(password), now=clock.now())
    await asyncio.to_thread(_save_credentials, password)
    return f"user admin, password {password} (saved in {CREDENTIALS_FILE})"


def _save_credentials(password: str) -> None:
    CREDENTIALS_FILE.write_text(f"user admin\npassword {password}\n", encoding="utf-8")
    CREDENTIALS_FILE.chmod(0o600)


def demo_orders_csv(path: Path, clock: Clock, count: int = 240) -> Path:
    """A Tmall export with the real quirks: GB18030, Excel-guarded order numbers, trailing-space headers,
    some masked and relay phone numbers. 13800138000 has orders, so phone binding can use an order question."""
    rng = random.Random(20261123)
    now = clock.now().astimezone(CHINA)
    rows: list[list[str]] = [TMALL_HEADERS]
    for number in range(count):
        phone = "13800138000" if number % 40 == 0 else f"13{rng.randint(5, 9)}{rng.randint(0, 99_999_999):08d}"
        if number % 17 == 3:
            phone = phone[:3] + "****" + phone[-4:]
        elif number % 23 == 5:
            phone = f"{phone}-{rng.randint(1000, 9999)}"
        created = now - timedelta(days=rng.randint(1, 400), minutes=rng.randint(0, 1440))
        paid = rng.choice([59, 99, 129, 268, 399, 888])
        status = rng.choice(
            ["交易成功", "交易成功", "卖家已发货，等待买家确认", "买家已付款，等待卖家发货", "交易关闭"]
        )
        stamp = created.strftime("%Y-%m-%d %H:%M:%S")
        rows.append([
            f'="{5_000_000_000_000_000 + number * 7919}"', f"buyer{number}", f"{paid}.00", f"{paid}.00",
            f"{paid}.00", status, rng.choice(NAMES), f"{rng.choice(CITIES)} 某路{number}号", "", phone, stamp,
            stamp, rng.choice(PRODUCTS), "1", "茶语旗舰店", "0.00", stamp if status == "交易成功" else "",
            f"{paid}.00元",
        ])  # fmt: skip
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_bytes(buffer.getvalue().encode("gb18030"))
    return path


async def _seed_orders(db: Database, settings: Settings, clock: Clock) -> None:
    async with db.session() as session:
        if await has_import_runs(session):
            return
    with tempfile.TemporaryDirectory() as folder:
        path = await asyncio.to_thread(demo_orders_csv, Path(folder) / "ExportOrderList202611230900.csv", clock)
        await import_file(db, settings, path, clock=clock, options=ImportOptions(platform="tmall", actor="demo"))
