"""The personal fields a template may use, and the render context built from a follower and profile.

A context is three namespaces: `follower`, `profile` and `step`. A value the follower does not have
(no name, no linked profile, no coupon drawn) is None; rendering then uses the template's fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from base.clock import utc

NAMESPACES = ("follower", "profile", "step")

RenderContext = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class FieldSpec:
    """One field: whether it can be missing at send time, and the last-resort text if it is."""

    path: str
    label: str
    nullable: bool
    default_fallback: str = ""


_SPECS = (
    FieldSpec("follower.channel", "关注渠道（二维码场景）", True, "公众号"),
    FieldSpec("follower.days_since_follow", "关注天数", False),
    FieldSpec("profile.masked_phone", "手机号（已打码）", True, "您绑定的手机"),
    FieldSpec("profile.name", "姓名", True, "朋友"),
    FieldSpec("profile.order_count", "订单数", False),
    FieldSpec("profile.total_spent", "累计消费（元）", False),
    FieldSpec("profile.last_product", "最近购买商品", True, "我们的产品"),
    FieldSpec("profile.segment", "客户分层", False),
    FieldSpec("profile.lifecycle_stage", "生命周期阶段", False),
    FieldSpec("step.coupon_code", "优惠券码", True, "（券码请咨询客服）"),
    FieldSpec("step.store_link", "店铺链接", True, ""),
)
FIELDS: dict[str, FieldSpec] = {spec.path: spec for spec in _SPECS}


@dataclass(frozen=True)
class StepContext:
    """What the journey step adds: a coupon code drawn for this push, the store link it offers."""

    coupon_code: str | None = None
    store_link: str | None = None


class FollowerView(Protocol):
    """What rendering reads of a follower (the stored row satisfies it; content never imports storage)."""

    @property
    def subscribed_at(self) -> datetime | None: ...
    @property
    def channel_scene(self) -> str | None: ...


class ProfileView(Protocol):
    """What rendering reads of a profile."""

    @property
    def erased_at(self) -> datetime | None: ...
    @property
    def phone_masked(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def order_count(self) -> int: ...
    @property
    def total_spent_fen(self) -> int: ...
    @property
    def last_product(self) -> str | None: ...
    @property
    def segment(self) -> str: ...
    @property
    def lifecycle_stage(self) -> str: ...


def yuan(fen: int) -> str:
    """Integer fen as a yuan amount with two decimals: 128050 -> "1280.50"."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def build_render_context(
    follower: FollowerView | None, profile: ProfileView | None, step: StepContext | None, now: datetime
) -> RenderContext:
    """The context a push or reply renders with; missing values stay None for the fallbacks."""
    days = 0
    if follower is not None and follower.subscribed_at is not None:
        days = max(0, (utc(now) - utc(follower.subscribed_at)).days)
    step = step or StepContext()
    linked = profile is not None and profile.erased_at is None
    return {
        "follower": {
            "channel": (follower.channel_scene or None) if follower is not None else None,
            "days_since_follow": days,
        },
        "profile": {
            "masked_phone": (profile.phone_masked or None) if linked and profile else None,
            "name": (profile.name or None) if linked and profile else None,
            "order_count": profile.order_count if linked and profile else 0,
            "total_spent": yuan(profile.total_spent_fen) if linked and profile else "0.00",
            "last_product": (profile.last_product or None) if linked and profile else None,
            "segment": profile.segment if linked and profile else "prospect",
            "lifecycle_stage": profile.lifecycle_stage if linked and profile else "prospect",
        },
        "step": {"coupon_code": step.coupon_code or None, "store_link": step.store_link or None},
    }


def empty_context() -> RenderContext:
    """The context of someone we know nothing about (keyword replies): every fallback shows."""
    # With no follower, "now" changes nothing; a fixed moment keeps this a pure function.
    return build_render_context(None, None, None, datetime(2000, 1, 1, tzinfo=UTC))


def sample_context() -> RenderContext:
    """A plausible repeat buyer, for previews in the console and `scrm content render`."""
    return {
        "follower": {"channel": "store_shanghai", "days_since_follow": 12},
        "profile": {
            "masked_phone": "138****8000",
            "name": "王小姐",
            "order_count": 3,
            "total_spent": "1280.00",
            "last_product": "山茶花精华液 30ml",
            "segment": "loyal",
            "lifecycle_stage": "repeat_buyer",
        },
        "step": {"coupon_code": "NEW20-8K2Q", "store_link": "https://brand.tmall.com/"},
    }


def with_fallbacks(context: RenderContext, fallbacks: dict[str, str]) -> RenderContext:
    """A copy of `context` where every missing value is the template's fallback (or the built-in one)."""
    resolved: RenderContext = {}
    for namespace in NAMESPACES:
        values = dict(context.get(namespace, {}))
        for path, spec in FIELDS.items():
            space, name = path.split(".", 1)
            if space != namespace:
                continue
            value = values.get(name)
            if value is None or value == "":
                values[name] = fallbacks.get(path, spec.default_fallback if spec.nullable else "")
        resolved[namespace] = values
    return resolved
