"""Choose the SMS sender from settings (`SCRM_SMS_PROVIDER`)."""

from __future__ import annotations

import logging

from base.clock import Clock
from base.settings import Settings, SettingsError
from identity.sms.base import SmsSender
from identity.sms.sandbox import SandboxSmsSender
from identity.sms.tencent import TencentSmsConfig, TencentSmsSender

PROVIDERS = ("sandbox", "tencent")


def build_sms_sender(settings: Settings, clock: Clock, logger: logging.Logger) -> SmsSender:
    """The configured sender; a bad provider name or missing option is a `SettingsError`."""
    provider = settings.sms_provider.strip().lower()
    if provider == "sandbox":
        return SandboxSmsSender(clock, logger, reveal=settings.demo)
    if provider == "tencent":
        return TencentSmsSender(TencentSmsConfig.from_options(settings.sms_options), clock)
    raise SettingsError(f"SCRM_SMS_PROVIDER must be one of {', '.join(PROVIDERS)}, got {settings.sms_provider!r}")
