"""Identity services the application installs in `Services.extras`, and how handlers find them."""

from __future__ import annotations

import logging
from typing import Any

from handlers.context import Services
from identity.sms import SmsSender, build_sms_sender
from identity.sms.sandbox import SandboxSmsSender
from identity.vault import PhoneVault
from scrm.clock import Clock, real_clock
from scrm.settings import Settings
from storage.conversations import ConversationStore
from storage.db import Database

_warned = False


def build_identity_services(
    db: Database, settings: Settings, clock: Clock, logger: logging.Logger | None = None
) -> dict[str, Any]:
    """The extras this feature provides: `conversations`, `phone_vault`, `sms_sender` and, with the
    sandbox sender, `sms_outbox` (what the follower simulator shows)."""
    log = logger or logging.getLogger("scrm.identity")
    sender = build_sms_sender(settings, clock, log)
    extras: dict[str, Any] = {
        # A conversation's 10 minutes and its lease between processes are wall time, whatever a demo
        # clock does: a person types in real time.
        "conversations": ConversationStore(db, real_clock(clock)),
        "phone_vault": PhoneVault(settings.data_key),
        "sms_sender": sender,
    }
    if isinstance(sender, SandboxSmsSender):
        extras["sms_outbox"] = sender
    return extras


def phone_vault(services: Services) -> PhoneVault:
    """The shared vault, or one built from the settings when the application did not install it."""
    vault = services.extras.get("phone_vault")
    if isinstance(vault, PhoneVault):
        return vault
    vault = PhoneVault(services.settings.data_key)
    services.extras["phone_vault"] = vault
    return vault


def sms_sender(services: Services) -> SmsSender | None:
    """The configured SMS sender, or None (binding then relies on order questions)."""
    sender: SmsSender | None = services.extras.get("sms_sender")
    return sender


def warn_if_unencrypted(settings: Settings, logger: logging.Logger) -> bool:
    """Say once per process that phone numbers are stored in clear when SCRM_DATA_KEY is unset.

    Returns True when the warning was logged by this call.
    """
    global _warned
    if settings.data_key or _warned:
        return False
    _warned = True
    logger.warning(
        "SCRM_DATA_KEY is not set: phone numbers are stored in clear. "
        'Set it to base64 of 32 random bytes (e.g. `python -c "import os,base64;'
        'print(base64.b64encode(os.urandom(32)).decode())"`) before real data arrives.'
    )
    return True
