"""Learning unionids. Callbacks never carry one: it comes from `user/info`, and only when the official
account is bound to an Open Platform account. Once learned, the follower joins the profile its unionid
already has on the brand's other accounts (identity.linking.link_by_unionid).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from base.clock import Clock
from identity.linking import link_by_unionid
from storage.db import Database
from storage.identity import accounts_missing_unionids, followers_missing_unionid

log = logging.getLogger(__name__)

BATCH = 100  # user/info/batchget takes at most 100 openids


class UserInfoAPI(Protocol):
    async def batch_get_user_info(self, appid: str, openids: list[str]) -> dict[str, Any]: ...


@dataclass
class UnionidFetcher:
    """Asks WeChat for the unionid of subscribed followers that have none, a bounded number per run.

    A per-process cursor (the last follower id asked about, per account) keeps one run from asking about
    the same followers again; after a restart the scan starts over, which costs one call per 100
    followers of an account that is not bound to an Open Platform account.
    """

    db: Database
    api: UserInfoAPI
    clock: Clock
    per_run: int = 1000
    _after: dict[str, int] = field(default_factory=dict)

    async def run(self) -> dict[str, int]:
        totals = {"checked": 0, "learned": 0, "linked": 0}
        async with self.db.session() as session:
            appids = await accounts_missing_unionids(session)
        for appid in appids:
            while totals["checked"] < self.per_run:
                asked = await self._batch(appid, totals)
                if asked < BATCH:
                    break
        return totals

    async def _batch(self, appid: str, totals: dict[str, int]) -> int:
        async with self.db.session() as session:
            followers = await followers_missing_unionid(session, appid, after_id=self._after.get(appid, 0), limit=BATCH)
            if not followers:
                return 0
            try:
                answer = await self.api.batch_get_user_info(appid, [f.openid for f in followers])
            except Exception as error:  # noqa: BLE001 - any API failure ends this account's turn; retried next run
                log.warning("user/info failed for %s: %s; unionids not learned this run", appid, error)
                return 0
            unionids = {
                info.get("openid"): info.get("unionid")
                for info in answer.get("user_info_list", [])
                if isinstance(info, dict) and info.get("unionid")
            }
            now = self.clock.now()
            for follower in followers:
                unionid = unionids.get(follower.openid)
                if isinstance(unionid, str):
                    follower.unionid = unionid
                    follower.updated_at = now
                    session.add(follower)
                    totals["learned"] += 1
                    if follower.profile_id is None and await link_by_unionid(session, follower, now=now):
                        totals["linked"] += 1
            await session.commit()
        self._after[appid] = max(f.id or 0 for f in followers)
        totals["checked"] += len(followers)
        return len(followers)
