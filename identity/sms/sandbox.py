"""The sandbox SMS sender: codes go to an in-memory outbox the follower simulator reads, never to a phone.

In demo mode the code is also logged so a new user can follow along in the terminal. Outside demo mode the
sandbox delivers nothing, says so through `available`, and binding falls back to order questions.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from base.clock import CHINA, Clock
from base.vault import mask_phone
from identity.sms.base import SmsError


class SandboxSmsSender:
    """Keeps the last messages in memory: `recent(limit)` is the `sms_outbox` service of the simulator."""

    def __init__(self, clock: Clock, logger: logging.Logger, *, reveal: bool, capacity: int = 50) -> None:
        self._clock = clock
        self._logger = logger
        self._reveal = reveal
        self._outbox: deque[dict[str, Any]] = deque(maxlen=capacity)

    @property
    def name(self) -> str:
        return "sandbox"

    @property
    def available(self) -> bool:
        return self._reveal

    async def send_code(self, e164: str, code: str, valid_minutes: int) -> None:
        if not self._reveal:
            raise SmsError("no SMS provider is configured (set SCRM_SMS_PROVIDER) and demo mode is off")
        sent_at = self._clock.now()
        text = f"【SCRM沙箱】你的验证码是 {code}，{valid_minutes} 分钟内有效。"
        self._outbox.append(
            {
                "to": mask_phone(e164),
                "code": code,
                "text": text,
                "at": sent_at.isoformat(),
                "at_china": sent_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
        self._logger.info("sandbox SMS to %s: code %s (demo mode only)", mask_phone(e164), code)

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest messages first, at most `limit`."""
        if limit <= 0:
            return []
        return [dict(item) for item in list(self._outbox)[::-1][:limit]]

    async def close(self) -> None:
        return None
