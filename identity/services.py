"""The identity services the application installs (the conversation store, the vault, the SMS sender)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from base.clock import Clock, real_clock
from base.settings import Settings
from base.vault import PhoneVault
from identity.sms import SmsSender, build_sms_sender
from identity.sms.sandbox import SandboxSmsSender
from storage.conversations import ConversationStore
from storage.db import Database

_warned = False


@dataclass(frozen=True)
class IdentityServices:
    """What this feature provides; `sms_outbox` is the sandbox sender (what the follower simulator shows)."""

    conversations: ConversationStore
    phone_vault: PhoneVault
    sms_sender: SmsSender
    sms_outbox: SandboxSmsSender | None


def build_identity_services(
    db: Database, settings: Settings, clock: Clock, logger: logging.Logger | None = None
) -> IdentityServices:
    """The identity services built from the settings."""
    log = logger or logging.getLogger("scrm.identity")
    sender = build_sms_sender(settings, clock, log)
    return IdentityServices(
        # A conversation's 10 minutes and its lease between processes are wall time, whatever a demo
        # clock does: a person types in real time.
        conversations=ConversationStore(db, real_clock(clock)),
        phone_vault=PhoneVault(settings.data_key),
        sms_sender=sender,
        sms_outbox=sender if isinstance(sender, SandboxSmsSender) else None,
    )


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
