"""The outbound WeChat API client (`WeChatAPI`), its shared access token and its errors."""

from gateway.wechat_api.client import WeChatAPI, qrcode_image_url
from gateway.wechat_api.credentials import AccountCredentials, CredentialSource, SettingsAndAccounts, StaticCredentials
from gateway.wechat_api.errors import (
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
from gateway.wechat_api.token import TokenManager

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
