"""The outbound WeChat API client (`WeChatAPI`), its shared access token and its errors."""

from wechat.api.client import WeChatAPI, qrcode_image_url
from wechat.api.credentials import AccountCredentials, CredentialSource, SettingsAndAccounts, StaticCredentials
from wechat.api.errors import (
    REACTIONS,
    CredentialsRejected,
    Reaction,
    TokenUnavailable,
    UnknownAccount,
    WeChatAPIError,
    WeChatError,
    WeChatNetworkError,
    reaction_for,
)
from wechat.api.token import TokenManager

__all__ = [
    "REACTIONS",
    "AccountCredentials",
    "CredentialSource",
    "CredentialsRejected",
    "Reaction",
    "SettingsAndAccounts",
    "StaticCredentials",
    "TokenManager",
    "TokenUnavailable",
    "UnknownAccount",
    "WeChatAPI",
    "WeChatAPIError",
    "WeChatError",
    "WeChatNetworkError",
    "qrcode_image_url",
    "reaction_for",
]
