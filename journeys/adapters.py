"""The dispatcher's seams bound to the real modules: wechat.api.WeChatAPI and content rendering."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from base.clock import Clock
from content.fields import StepContext, build_render_context
from content.sandbox import RenderError
from content.templates import TemplateBody, parse_body, render_body
from journeys.coupons import CouponDrawer
from journeys.ports import RenderFailed, RenderRequest
from publishing.links import LinkTracker
from storage.db import Database
from storage.journeys import people_to_render, template_versions
from storage.models.core import Follower, Profile
from wechat.api.client import WeChatAPI


class WeChatSender:
    """`PushSender` over the shared WeChat API client."""

    def __init__(self, api: WeChatAPI) -> None:
        self.api = api

    async def send_custom(self, appid: str, payload: dict[str, Any]) -> None:
        await self.api.send_custom_message(appid, payload)

    async def send_template(self, appid: str, payload: dict[str, Any]) -> str:
        answer = await self.api.send_template_message(appid, payload)
        return str(answer.get("msgid", "") or "")

    async def mass_send(self, appid: str, payload: dict[str, Any]) -> str:
        answer = await self.api.mass_send(appid, payload)
        return str(answer.get("msg_id", ""))

    async def upload_news(self, appid: str, articles: list[dict[str, Any]]) -> str:
        """Upload a mass-send news (POST /cgi-bin/media/uploadnews); returns its media_id."""
        answer = await self.api.call(appid, "POST", "/cgi-bin/media/uploadnews", body={"articles": articles})
        return str(answer.get("media_id", ""))


class ContentRenderer:
    """`PushRenderer` that renders the recorded template version with the follower's current facts.

    Published versions never change, so parsed bodies are cached for the life of the process.
    """

    def __init__(
        self, db: Database, clock: Clock, coupons: CouponDrawer | None = None, links: LinkTracker | None = None
    ) -> None:
        self.db = db
        self.clock = clock
        self.coupons = coupons or CouponDrawer(db, clock)
        # Rewrites the declared links of each push into tracked links of that push.
        self.links = links
        self._bodies: dict[int, TemplateBody | RenderFailed] = {}

    async def body(self, version_id: int) -> TemplateBody | RenderFailed:
        """The parsed body of one template version (cached)."""
        await self._load_bodies([version_id])
        return self._bodies[version_id]

    async def _load_bodies(self, version_ids: Sequence[int]) -> None:
        missing = sorted({v for v in version_ids if v not in self._bodies})
        if not missing:
            return
        async with self.db.session() as session:
            found = await template_versions(session, missing)
        for version_id in missing:
            row = found.get(version_id)
            if row is None:
                self._bodies[version_id] = RenderFailed(f"template version {version_id} does not exist")
                continue
            try:
                self._bodies[version_id] = parse_body(row.body)
            except ValueError as error:
                self._bodies[version_id] = RenderFailed(f"template version {version_id} is malformed: {error}")

    async def _people(self, follower_ids: list[int]) -> tuple[dict[int, Follower], dict[int, Profile]]:
        """Followers and their profiles, as detached read-only instances."""
        async with self.db.engine.connect() as conn:
            return await people_to_render(conn, follower_ids)

    async def render_many(self, requests: Sequence[RenderRequest]) -> list[dict[str, Any] | RenderFailed]:
        await self._load_bodies([r.template_version_id for r in requests])
        followers, profiles = await self._people(sorted({r.follower_id for r in requests}))
        codes = await self.coupons.draw_for(
            [
                (r.push_id, str(r.context["coupon_pool"]), r.follower_id)
                for r in requests
                if r.context.get("coupon_pool")
            ]
        )
        now = self.clock.now()
        results: list[dict[str, Any] | RenderFailed] = []
        for request in requests:
            body = self._bodies[request.template_version_id]
            if isinstance(body, RenderFailed):
                results.append(body)
                continue
            follower = followers.get(request.follower_id)
            profile = profiles.get(follower.profile_id) if follower and follower.profile_id else None
            code = codes.get(request.push_id)
            step = StepContext(coupon_code=code, store_link=request.context.get("store_link"))
            try:
                message = render_body(body, build_render_context(follower, profile, step, now))
                if self.links is not None:
                    message = self.links.track(
                        message,
                        body,
                        kind="p",
                        delivery_id=request.push_id,
                        follower_id=request.follower_id,
                        version_id=request.template_version_id,
                    )
                if request.template_kind == "wechat_template":
                    results.append(message.template_message(request.openid))
                else:
                    results.append(message.customer_service(request.openid))
            except (RenderError, ValueError) as error:
                results.append(RenderFailed(str(error)))
        return results
