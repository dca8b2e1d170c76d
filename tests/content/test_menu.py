"""The custom menu is checked against WeChat's rules before anything is saved or sent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from content.menu import MenuError, parse_menu

SEED = Path(__file__).resolve().parents[2] / "content" / "seed" / "menu.yaml"


def test_the_seed_menu_is_valid_and_its_keys_have_replies() -> None:
    menu = parse_menu(yaml.safe_load(SEED.read_text(encoding="utf-8")))
    replies = yaml.safe_load((SEED.parent / "replies.yaml").read_text(encoding="utf-8"))
    assert set(menu.click_keys()) == set(replies["menus"])
    body = menu.to_wechat()
    assert [b["name"] for b in body["button"]] == ["品牌故事", "门店与会员", "官方商城"]
    assert body["button"][1]["sub_button"][0] == {"type": "click", "name": "附近门店", "key": "MENU_STORES"}


def _button(**fields: Any) -> dict[str, Any]:
    return {"type": "click", "name": "好", "key": "K", **fields}


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"button": []}, "1-3 top-level"),
        ({"button": [_button(key=f"K{n}") for n in range(4)]}, "1-3 top-level"),
        ({"button": [_button(name="")]}, "needs a name"),
        ({"button": [_button(name="品牌故事介绍")]}, "at most 16"),
        ({"button": [_button(type="scancode")]}, "click or view"),
        ({"button": [_button(key="")]}, "needs a key"),
        ({"button": [{"type": "view", "name": "商城", "url": "javascript:alert(1)"}]}, "http(s) URL"),
        ({"button": [{"name": "更多", "sub_button": [_button(key=f"S{n}") for n in range(6)]}]}, "at most 5"),
        ({"button": [_button(), _button()]}, "more than one button"),
    ],
)
def test_broken_menus_are_refused_with_the_reason(doc: dict[str, Any], problem: str) -> None:
    with pytest.raises(MenuError, match=re.escape(problem)):
        parse_menu(doc)


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(MenuError) as raised:
        parse_menu({"button": [_button(name=""), {"type": "view", "name": "商城", "url": ""}]})
    assert len(raised.value.problems) == 2
