"""Wording WeChat penalises: rewards for following, sharing or collecting likes (诱导关注/诱导分享).

WeChat's operating rules forbid inducing users to follow or share with a reward; accounts using such
wording get messages blocked or the account restricted. Editors get an error naming the phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PENALISED_PHRASES = (
    "关注有礼",
    "关注即送",
    "关注送",
    "关注领取",
    "关注抽奖",
    "转发有奖",
    "转发有礼",
    "转发领取",
    "转发抽奖",
    "转发朋友圈",
    "转发到朋友圈",
    "分享有礼",
    "分享有奖",
    "分享领取",
    "分享抽奖",
    "分享到朋友圈",
    "分享朋友圈",
    "集赞",
    "点赞领取",
    "诱导分享",
    "邀请好友关注",
)

# Spaces and separators inserted between characters ("关 注 有 礼", "转/发/有/奖") do not hide a phrase.
_SEPARATORS = re.compile(r"[\s\u3000·•/\\|_\-—~～*.,，。、]+")


@dataclass(frozen=True)
class PenalisedWording:
    phrase: str
    line: int  # 1-based line of the text


def find_penalised_wording(text: str) -> list[PenalisedWording]:
    """Every penalised phrase in `text`, with its line; empty when the wording is acceptable."""
    found: list[PenalisedWording] = []
    for number, line in enumerate(text.splitlines() or [text], start=1):
        squeezed = _SEPARATORS.sub("", line)
        for phrase in PENALISED_PHRASES:
            if phrase in squeezed:
                found.append(PenalisedWording(phrase, number))
    return found
