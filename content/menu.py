"""The account's custom menu as data: parsed from YAML or a form, checked against WeChat's rules.

WeChat's limits (custom menu API): 1-3 top-level buttons, each either an action or a list of 1-5 sub
buttons; a top-level name at most 16 bytes (4 Chinese characters), a sub button's at most 60 bytes;
a `click` carries a key of at most 128 bytes, a `view` an http(s) URL of at most 1024 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TOP_NAME_BYTES = 16
SUB_NAME_BYTES = 60
KEY_BYTES = 128
URL_BYTES = 1024
TYPES = ("click", "view")


class MenuError(ValueError):
    """The menu breaks WeChat's rules; `problems` lists each, with the button it is about."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class MenuButton:
    name: str
    type: str = ""  # click | view; empty for a top-level button holding sub buttons
    key: str = ""
    url: str = ""
    sub_buttons: tuple[MenuButton, ...] = field(default_factory=tuple)

    def to_wechat(self) -> dict[str, Any]:
        if self.sub_buttons:
            return {"name": self.name, "sub_button": [sub.to_wechat() for sub in self.sub_buttons]}
        if self.type == "click":
            return {"type": "click", "name": self.name, "key": self.key}
        return {"type": "view", "name": self.name, "url": self.url}


@dataclass(frozen=True)
class Menu:
    buttons: tuple[MenuButton, ...]

    def to_wechat(self) -> dict[str, Any]:
        """The body of /cgi-bin/menu/create."""
        return {"button": [button.to_wechat() for button in self.buttons]}

    def click_keys(self) -> list[str]:
        return [b.key for top in self.buttons for b in (top, *top.sub_buttons) if b.type == "click"]


def parse_menu(doc: Any) -> Menu:
    """A menu from `{"button": [...]}` (WeChat's shape, `sub_button` for sub buttons); MenuError lists every problem."""
    problems: list[str] = []
    raw = doc.get("button") if isinstance(doc, dict) else None
    if not isinstance(raw, list) or not 1 <= len(raw) <= 3:
        raise MenuError(["a menu has 1-3 top-level buttons under `button`"])
    buttons = tuple(_button(item, f"button {n}", top=True, problems=problems) for n, item in enumerate(raw, start=1))
    keys = [key for key in Menu(buttons).click_keys() if key]
    for key in sorted({key for key in keys if keys.count(key) > 1}):
        problems.append(f"key {key!r} is used by more than one button")
    if problems:
        raise MenuError(problems)
    return Menu(buttons)


def _button(item: Any, where: str, *, top: bool, problems: list[str]) -> MenuButton:
    if not isinstance(item, dict):
        problems.append(f"{where}: a button is a mapping with a name")
        return MenuButton(name="")
    name = str(item.get("name") or "").strip()
    limit = TOP_NAME_BYTES if top else SUB_NAME_BYTES
    if not name:
        problems.append(f"{where}: a button needs a name")
    elif len(name.encode()) > limit:
        problems.append(f"{where} ({name}): the name is {len(name.encode())} bytes, at most {limit}")
    subs = item.get("sub_button") or []
    if subs:
        if not top:
            problems.append(f"{where} ({name}): sub buttons cannot have sub buttons")
            return MenuButton(name=name)
        if not isinstance(subs, list) or len(subs) > 5:
            problems.append(f"{where} ({name}): at most 5 sub buttons")
            return MenuButton(name=name)
        children = tuple(
            _button(sub, f"{where}.{n}", top=False, problems=problems) for n, sub in enumerate(subs, start=1)
        )
        return MenuButton(name=name, sub_buttons=children)
    kind = str(item.get("type") or "")
    if kind not in TYPES:
        problems.append(f"{where} ({name}): type must be click or view, or give it sub buttons")
        return MenuButton(name=name)
    if kind == "click":
        key = str(item.get("key") or "").strip()
        if not key or len(key.encode()) > KEY_BYTES:
            problems.append(f"{where} ({name}): a click button needs a key of 1-{KEY_BYTES} bytes")
        return MenuButton(name=name, type=kind, key=key)
    url = str(item.get("url") or "").strip()
    if not url.startswith(("https://", "http://")) or len(url.encode()) > URL_BYTES:
        problems.append(f"{where} ({name}): a view button needs an http(s) URL of at most {URL_BYTES} bytes")
    return MenuButton(name=name, type=kind, url=url)


__all__ = ["Menu", "MenuButton", "MenuError", "parse_menu"]
