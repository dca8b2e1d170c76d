"""The simulator's menu row: the account's published custom menu, as buttons a follower can tap."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from content.menu import Menu
from sandbox.fake_wechat import FakeWeChat

# The menu WeChat shows the account's followers, as last published (publishing.menu.published_menu).
MenuSource = Callable[[], Awaitable[Menu | None]]


async def menu_row(source: MenuSource | None, fake: FakeWeChat, appid: str) -> list[dict[str, str]]:
    """Each tappable button with its type, key or URL, and the name of the group a sub button sits in.

    Without a published menu, the buttons the fake API last received are shown, so a menu created by
    other means than the console still appears, and so does one the console has sent but not yet recorded
    as published.
    """
    menu = await source() if source is not None else None
    if menu is None:
        return fake.menu_buttons(appid) or fake.menu_buttons()
    return [
        {"name": button.name, "type": button.type, "key": button.key, "url": button.url, "group": group}
        for top in menu.buttons
        for button, group in ([(sub, top.name) for sub in top.sub_buttons] or [(top, "")])
    ]


__all__ = ["MenuSource", "menu_row"]
