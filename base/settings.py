"""Settings read once from the environment (and an optional `.env` file), validated, then passed down.

Library code never reads the environment itself: it receives a `Settings`.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

WECHAT_API_DEFAULT = "https://api.weixin.qq.com"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///./scrm.db"
    wechat_appid: str = ""
    wechat_appsecret: str = ""
    wechat_token: str = ""
    wechat_aes_key: str = ""
    wechat_api_base: str = WECHAT_API_DEFAULT
    host: str = "127.0.0.1"
    port: int = 8080
    # Seconds a callback may spend before we answer `success` and send the reply through the API.
    reply_deadline: float = 4.0
    # Key for encrypting phone numbers at rest (32 bytes, given in either base64 alphabet); empty = in clear.
    data_key: bytes = b""
    content_dir: str = ""
    # Marketing frequency caps per follower.
    cap_per_day: int = 2
    cap_per_week: int = 5
    quiet_start: str = "21:30"
    quiet_end: str = "08:30"
    attribution_days: int = 7
    sms_provider: str = "sandbox"
    sms_options: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "INFO"
    demo: bool = False
    # Where followers reach this gateway (https://your-host): links in what we send become tracked links
    # under it (/l/<token>). Empty: links go out as they are.
    public_url: str = ""

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def aes_enabled(self) -> bool:
        return bool(self.wechat_aes_key)


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a minimal `.env` file: KEY=VALUE lines, `#` comments, optional quotes."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep:
            raise SettingsError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


_TIME_OF_DAY = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_APPID = re.compile(r"^wx[0-9a-zA-Z]{16}$")


def _time_of_day(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip() or default
    if not _TIME_OF_DAY.match(raw):
        raise SettingsError(f"{name} must be a time of day HH:MM, got {raw!r}")
    return raw


def _aes_key(raw: str) -> str:
    if not raw:
        return ""
    if len(raw) != 43:
        raise SettingsError(f"WECHAT_AES_KEY must be the 43-character EncodingAESKey, got {len(raw)} characters")
    try:
        decoded = base64.b64decode(raw + "=", validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError("WECHAT_AES_KEY is not valid base64 (EncodingAESKey)") from None
    if len(decoded) != 32:
        raise SettingsError("WECHAT_AES_KEY must decode to 32 bytes")
    return raw


_DATA_KEY_RULE = "SCRM_DATA_KEY must be 32 bytes in base64, standard or URL-safe (openssl rand -base64 32)"


def _data_key(raw: str) -> bytes:
    """The phone vault's key. Both base64 alphabets are read (`openssl rand -base64 32` writes `+` and `/`,
    `secrets.token_urlsafe(32)` writes `-` and `_` and drops the padding), the padding is optional, but
    one key never mixes the two alphabets: that is a damaged copy, not a key."""
    if not raw:
        return b""
    standard, url_safe = any(c in raw for c in "+/"), any(c in raw for c in "-_")
    if standard and url_safe:
        raise SettingsError(f"{_DATA_KEY_RULE}; this value mixes the two alphabets (+/ and -_)")
    unpadded = raw.rstrip("=")
    text = unpadded.translate(str.maketrans("-_", "+/")) + "=" * (-len(unpadded) % 4)
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError(f"{_DATA_KEY_RULE}; this value is not base64") from None
    if len(decoded) != 32:
        raise SettingsError(f"{_DATA_KEY_RULE}; got {len(decoded)} bytes")
    return decoded


def _database_url(raw: str) -> str:
    url = raw.strip() or Settings.database_url
    if url.startswith("sqlite:///"):
        url = "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    elif url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise SettingsError(
            f"SCRM_DATABASE_URL must be sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB, got {raw!r}"
        )
    return url


def load_settings(
    env: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env"), require_wechat: bool = False
) -> Settings:
    """Build settings from `env` (default: the process environment) over an optional `.env` file.

    `require_wechat` is set by `scrm serve`: a real account needs an appid and a token.
    """
    merged: dict[str, str] = {}
    if dotenv is not None:
        merged.update(read_dotenv(dotenv))
    merged.update(os.environ if env is None else env)

    appid = merged.get("WECHAT_APPID", "").strip()
    if appid and not _APPID.match(appid):
        raise SettingsError(f"WECHAT_APPID must look like wx followed by 16 letters or digits, got {appid!r}")
    token = merged.get("WECHAT_TOKEN", "").strip()
    if token and not re.fullmatch(r"[A-Za-z0-9]{3,32}", token):
        raise SettingsError("WECHAT_TOKEN must be 3-32 letters or digits (as set in the WeChat console)")
    if require_wechat:
        for name, value in (("WECHAT_APPID", appid), ("WECHAT_TOKEN", token)):
            if not value:
                raise SettingsError(f"{name} is required by `scrm serve` (use `scrm demo` to try without WeChat)")
    api_base = merged.get("WECHAT_API_BASE", "").strip() or WECHAT_API_DEFAULT
    if not api_base.startswith(("http://", "https://")):
        raise SettingsError(f"WECHAT_API_BASE must be an http(s) URL, got {api_base!r}")
    sms_options = {
        key[len("SCRM_SMS_") :].lower(): value
        for key, value in merged.items()
        if key.startswith("SCRM_SMS_") and key != "SCRM_SMS_PROVIDER"
    }
    level = merged.get("SCRM_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError(f"SCRM_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    public_url = merged.get("SCRM_PUBLIC_URL", "").strip().rstrip("/")
    if public_url and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", public_url):
        raise SettingsError(f"SCRM_PUBLIC_URL must be the gateway's http(s) address, got {public_url!r}")
    return Settings(
        database_url=_database_url(merged.get("SCRM_DATABASE_URL", "")),
        wechat_appid=appid,
        wechat_appsecret=merged.get("WECHAT_APPSECRET", "").strip(),
        wechat_token=token,
        wechat_aes_key=_aes_key(merged.get("WECHAT_AES_KEY", "").strip()),
        wechat_api_base=api_base.rstrip("/"),
        host=merged.get("SCRM_HOST", "").strip() or "127.0.0.1",
        port=_int(merged, "SCRM_PORT", 8080, 1, 65535),
        reply_deadline=_float(merged, "SCRM_REPLY_DEADLINE", 4.0, 0.1, 4.5),
        data_key=_data_key(merged.get("SCRM_DATA_KEY", "").strip()),
        content_dir=merged.get("SCRM_CONTENT_DIR", "").strip(),
        cap_per_day=_int(merged, "SCRM_CAP_PER_DAY", 2, 0, 100),
        cap_per_week=_int(merged, "SCRM_CAP_PER_WEEK", 5, 0, 700),
        quiet_start=_time_of_day(merged, "SCRM_QUIET_START", "21:30"),
        quiet_end=_time_of_day(merged, "SCRM_QUIET_END", "08:30"),
        attribution_days=_int(merged, "SCRM_ATTRIBUTION_DAYS", 7, 0, 90),
        sms_provider=merged.get("SCRM_SMS_PROVIDER", "sandbox").strip() or "sandbox",
        sms_options=sms_options,
        log_level=level,
        public_url=public_url,
    )
