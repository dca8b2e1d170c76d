"""The SMS seam: everything that sends a code implements `SmsSender`."""

from __future__ import annotations

from typing import Protocol


class SmsError(RuntimeError):
    """The code could not be sent; the message is safe to log (it never holds the code)."""


class SmsSender(Protocol):
    """Sends a one-time code to a mobile number."""

    @property
    def name(self) -> str:
        """Provider name for logs and audit (`sandbox`, `tencent`)."""
        ...

    @property
    def available(self) -> bool:
        """Whether a code sent now reaches the person (False: bind through an order question only)."""
        ...

    async def send_code(self, e164: str, code: str, valid_minutes: int) -> None:
        """Send `code` to `e164`; raise `SmsError` when the provider refuses or cannot be reached."""
        ...

    async def close(self) -> None:
        """Release network resources."""
        ...
