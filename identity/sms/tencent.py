"""Tencent Cloud SMS (API 3.0, action SendSms) with TC3-HMAC-SHA256 request signing.

Configured from SCRM_SMS_* variables (see `TencentSmsConfig.from_options`). The endpoint is configurable
so tests point it at an in-process fake.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp

from base.clock import Clock
from base.settings import SettingsError
from base.vault import mask_phone
from identity.sms.base import SmsError

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"


@dataclass(frozen=True)
class TencentSmsConfig:
    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str
    template_id: str
    region: str = "ap-guangzhou"
    endpoint: str = "https://sms.tencentcloudapi.com"
    timeout_seconds: float = 5.0

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> TencentSmsConfig:
        """Read SCRM_SMS_SECRET_ID, _SECRET_KEY, _SDK_APP_ID, _SIGN_NAME, _TEMPLATE_ID, _REGION, _ENDPOINT."""
        required = ("secret_id", "secret_key", "sdk_app_id", "sign_name", "template_id")
        missing = [f"SCRM_SMS_{name.upper()}" for name in required if not options.get(name, "").strip()]
        if missing:
            raise SettingsError(f"SCRM_SMS_PROVIDER=tencent needs {', '.join(missing)}")
        endpoint = options.get("endpoint", "").strip() or cls.endpoint
        if not endpoint.startswith(("http://", "https://")):
            raise SettingsError(f"SCRM_SMS_ENDPOINT must be an http(s) URL, got {endpoint!r}")
        return cls(
            secret_id=options["secret_id"].strip(),
            secret_key=options["secret_key"].strip(),
            sdk_app_id=options["sdk_app_id"].strip(),
            sign_name=options["sign_name"].strip(),
            template_id=options["template_id"].strip(),
            region=options.get("region", "").strip() or cls.region,
            endpoint=endpoint.rstrip("/"),
        )


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def tc3_signature(
    *, secret_key: str, service: str, host: str, payload: str, timestamp: int, content_type: str = CONTENT_TYPE
) -> str:
    """The hex TC3-HMAC-SHA256 signature of a POST to `/` with `content-type;host` signed."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{content_type}\nhost:{host}\n",
            SIGNED_HEADERS,
            hashlib.sha256(payload.encode("utf-8")).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    signing_key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode("utf-8"), date), service), "tc3_request")
    return hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization_header(*, secret_id: str, service: str, timestamp: int, signature: str) -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    return (
        f"{ALGORITHM} Credential={secret_id}/{date}/{service}/tc3_request, "
        f"SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    )


class TencentSmsSender:
    """Sends codes through Tencent Cloud SMS; one template with two parameters: the code and its minutes."""

    def __init__(self, config: TencentSmsConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    @property
    def name(self) -> str:
        return "tencent"

    @property
    def available(self) -> bool:
        return True

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self._config.timeout_seconds)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    def signed_request(self, e164: str, code: str, valid_minutes: int) -> tuple[dict[str, str], str]:
        """Headers and body of the SendSms call (separate so the signing is testable on its own)."""
        config = self._config
        body = json.dumps(
            {
                "PhoneNumberSet": [e164],
                "SmsSdkAppId": config.sdk_app_id,
                "SignName": config.sign_name,
                "TemplateId": config.template_id,
                "TemplateParamSet": [code, str(valid_minutes)],
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        host = urlsplit(config.endpoint).netloc
        timestamp = int(self._clock.now().timestamp())
        signature = tc3_signature(
            secret_key=config.secret_key, service=SERVICE, host=host, payload=body, timestamp=timestamp
        )
        headers = {
            "Authorization": authorization_header(
                secret_id=config.secret_id, service=SERVICE, timestamp=timestamp, signature=signature
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": config.region,
        }
        return headers, body

    async def send_code(self, e164: str, code: str, valid_minutes: int) -> None:
        headers, body = self.signed_request(e164, code, valid_minutes)
        try:
            async with self._client().post(
                self._config.endpoint + "/", data=body.encode("utf-8"), headers=headers
            ) as response:
                if response.status != 200:
                    raise SmsError(f"Tencent SMS answered HTTP {response.status} for {mask_phone(e164)}")
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SmsError(f"Tencent SMS unreachable: {error.__class__.__name__}") from error
        _raise_for_response(document, e164)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _raise_for_response(document: object, e164: str) -> None:
    response = document.get("Response") if isinstance(document, dict) else None
    if not isinstance(response, dict):
        raise SmsError("Tencent SMS answered without a Response object")
    error = response.get("Error")
    if isinstance(error, dict):
        raise SmsError(f"Tencent SMS refused: {error.get('Code')} {error.get('Message')}")
    statuses = response.get("SendStatusSet")
    if not isinstance(statuses, list) or not statuses:
        raise SmsError("Tencent SMS answered without a send status")
    status = statuses[0] if isinstance(statuses[0], dict) else {}
    if status.get("Code") != "Ok":
        raise SmsError(f"Tencent SMS did not send to {mask_phone(e164)}: {status.get('Code')} {status.get('Message')}")
