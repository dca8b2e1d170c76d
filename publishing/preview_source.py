"""Gathering what a preview needs from the database (or a content directory) for a given follower.

`scrm journeys preview`, `scrm content render` and the console use these, then call the pure
content.preview.preview_timeline / content.templates.render_body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from base.phones import normalise_mobile
from base.vault import PhoneVault
from content.fields import RenderContext, StepContext, build_render_context, sample_context
from content.journey_checks import TemplateInfo, template_info
from content.loader import ContentBundle
from content.model import FollowerFacts, JourneyDefinition, SendStep
from content.preview import PreviewInput
from content.sandbox import RenderError
from content.templates import TemplateBody, parse_body, render_body
from storage import content as store
from storage.identity import followers_by_openid, followers_of_profile, profile_by_phone_key
from storage.models.core import Follower, Profile


class PreviewError(LookupError):
    """The journey, template, follower or profile asked for does not exist."""


@dataclass(frozen=True)
class Subject:
    """Who a preview is for: a real follower and/or profile, or nobody (the sample profile)."""

    follower: Follower | None = None
    profile: Profile | None = None

    @property
    def is_sample(self) -> bool:
        return self.follower is None and self.profile is None

    def facts(self) -> FollowerFacts:
        profile, follower = self.profile, self.follower
        if self.is_sample:
            sample = sample_context()
            return FollowerFacts(
                has_purchased=int(sample["profile"]["order_count"]) > 0,
                segment=str(sample["profile"]["segment"]),
                channel=str(sample["follower"]["channel"]),
            )
        tags = [*(follower.tags if follower else []), *(profile.tags if profile else [])]
        return FollowerFacts(
            has_purchased=bool(profile and profile.order_count > 0),
            segment=profile.segment if profile else "prospect",
            tags=tuple(tags),
            channel=follower.channel_scene if follower else None,
        )

    def context(self, step: StepContext | None, now: datetime) -> RenderContext:
        if self.is_sample:
            sample = sample_context()
            if step is not None and step.store_link:
                sample["step"]["store_link"] = step.store_link
            return sample
        return build_render_context(self.follower, self.profile, step, now)


async def find_subject(session: AsyncSession, who: str, vault: PhoneVault, appid: str | None = None) -> Subject:
    """A follower by openid, or a profile by mobile number (with one of its followers when linked)."""
    e164 = normalise_mobile(who)
    if e164 is not None:
        profile = await profile_by_phone_key(session, vault.lookup_key(e164))
        if profile is None or profile.id is None:
            raise PreviewError("no profile has that phone number")
        linked = await followers_of_profile(session, profile.id, limit=1)
        return Subject(linked[0] if linked else None, profile)
    followers = await followers_by_openid(session, who, appid=appid)
    if not followers:
        raise PreviewError(f"no follower with openid {who!r} (or it is not a valid mobile number)")
    if len(followers) > 1:
        raise PreviewError(f"openid {who!r} follows several accounts: name the account with --appid")
    follower = followers[0]
    profile = await session.get(Profile, follower.profile_id) if follower.profile_id is not None else None
    return Subject(follower, profile)


async def published_bodies(session: AsyncSession) -> dict[str, TemplateBody]:
    """The body every published template renders now."""
    return {template.name: parse_body(version.body) for template, version in await store.published_versions(session)}


def step_renderer(bodies: Mapping[str, TemplateBody], subject: Subject, now: datetime) -> Callable[[SendStep], str]:
    """A function SendStep -> the text the follower would read (content.preview.PreviewInput.render)."""

    def render(step: SendStep) -> str:
        body = bodies.get(step.template)
        if body is None:
            return f"（模板 {step.template} 尚未发布）"
        coupon = None
        if step.coupon_pool:
            coupon = "NEW20-8K2Q" if subject.is_sample else f"〈{step.coupon_pool} 券码〉"
        context = subject.context(StepContext(coupon_code=coupon, store_link=step.store_link), now)
        try:
            return render_body(body, context).preview_text()
        except RenderError as error:
            return f"（无法渲染：{error}）"

    return render


def build_preview_input(
    journey: JourneyDefinition,
    bodies: Mapping[str, TemplateBody],
    subject: Subject,
    *,
    start: datetime,
    messages_at: Sequence[datetime] = (),
    purchase_at: datetime | None = None,
) -> PreviewInput:
    """Everything preview_timeline needs for one journey and one subject."""
    infos: dict[str, TemplateInfo] = {name: template_info(name, body) for name, body in bodies.items()}
    render = step_renderer(bodies, subject, start)
    return PreviewInput(
        journey=journey,
        templates=infos,
        start=start,
        messages_at=tuple(messages_at),
        facts=subject.facts(),
        purchase_at=purchase_at,
        render=render,
    )


async def stored_journey(session: AsyncSession, name: str) -> JourneyDefinition:
    row = await store.journey_by_name(session, name)
    if row is None:
        raise PreviewError(f"no journey named {name!r} (load it with `scrm content load DIR`)")
    return JourneyDefinition.from_doc(row.definition)


def bundle_journey(bundle: ContentBundle, name: str) -> tuple[JourneyDefinition, dict[str, TemplateBody]]:
    """A journey and the template bodies of a validated content directory."""
    journey = bundle.journeys.get(name)
    if journey is None:
        raise PreviewError(f"no journey named {name!r} in {bundle.root}")
    return journey, {loaded.name: loaded.body for loaded in bundle.templates.values()}
