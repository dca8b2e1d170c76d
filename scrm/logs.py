"""Structured logs: one line per record, `key=value` fields after the message, phones always masked.

Fields passed with `extra={...}` (msg_id, openid, appid, push_id...) are appended to the line. A filter
masks anything that looks like a Chinese mobile number, as a last line of defence: code should already
log `mask_phone(...)`, but a number inside a user's text message must not reach the log either.
"""

from __future__ import annotations

import logging
import re
import sys

_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def mask_phones_in(text: str) -> str:
    return _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


class PhoneMaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, mask_phones_in(value))
        return True


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [
            f"{key}={value!r}" if isinstance(value, str) and " " in value else f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        ]
        return f"{line} {' '.join(fields)}" if fields else line


def configure_logging(level: str = "INFO") -> None:
    """Install the formatter and the masking filter on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_scrm", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._scrm = True  # type: ignore[attr-defined]
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PhoneMaskingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Per-request and per-job lines drown the useful ones; keep their warnings only.
    for noisy in ("aiohttp.access", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
