from __future__ import annotations

import base64
from pathlib import Path

import pytest

from base.settings import SettingsError, load_settings
from scrm.cli.main import main

GOOD_AES = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def test_defaults_use_a_local_sqlite_file() -> None:
    settings = load_settings({}, dotenv=None)
    assert settings.database_url == "sqlite+aiosqlite:///./scrm.db"
    assert settings.port == 8080
    assert settings.reply_deadline == 4.0
    assert not settings.aes_enabled


def test_plain_database_urls_get_their_async_driver() -> None:
    assert load_settings({"SCRM_DATABASE_URL": "sqlite:///x.db"}, dotenv=None).database_url == (
        "sqlite+aiosqlite:///x.db"
    )
    pg = load_settings({"SCRM_DATABASE_URL": "postgresql://u@h/db"}, dotenv=None)
    assert pg.database_url == "postgresql+asyncpg://u@h/db"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"SCRM_PORT": "eighty"}, "SCRM_PORT"),
        ({"SCRM_PORT": "70000"}, "SCRM_PORT"),
        ({"WECHAT_AES_KEY": "short"}, "WECHAT_AES_KEY"),
        ({"WECHAT_AES_KEY": "!" * 43}, "WECHAT_AES_KEY"),
        ({"WECHAT_APPID": "not-an-appid"}, "WECHAT_APPID"),
        ({"SCRM_DATABASE_URL": "mysql://x"}, "SCRM_DATABASE_URL"),
        ({"SCRM_DATA_KEY": base64.b64encode(b"short").decode()}, "SCRM_DATA_KEY"),
        ({"WECHAT_API_BASE": "ftp://x"}, "WECHAT_API_BASE"),
        ({"SCRM_QUIET_START": "25:00"}, "SCRM_QUIET_START"),
    ],
)
def test_malformed_values_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        load_settings(env, dotenv=None)


def test_serve_requires_appid_and_token() -> None:
    with pytest.raises(SettingsError, match="WECHAT_APPID"):
        load_settings({}, dotenv=None, require_wechat=True)
    settings = load_settings(
        {"WECHAT_APPID": "wx1234567890abcdef", "WECHAT_TOKEN": "tok", "WECHAT_AES_KEY": GOOD_AES},
        dotenv=None,
        require_wechat=True,
    )
    assert settings.aes_enabled


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('# comment\nSCRM_PORT=9000\nexport SCRM_HOST="0.0.0.0"\n', encoding="utf-8")
    settings = load_settings({"SCRM_PORT": "9100"}, dotenv=dotenv)
    assert settings.port == 9100
    assert settings.host == "0.0.0.0"


def test_cli_reports_bad_setting_in_one_line_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCRM_DATABASE_URL", "mysql://nope")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("scrm: SCRM_DATABASE_URL")
    assert "\n" not in err


# 32 bytes whose base64 has both `+` and `/` in the standard alphabet (so `-` and `_` in the URL-safe one).
_KEY_BYTES = bytes.fromhex("fbefbe" * 10 + "fbff")


@pytest.mark.parametrize(
    "written",
    [
        base64.b64encode(_KEY_BYTES).decode(),
        base64.urlsafe_b64encode(_KEY_BYTES).decode(),
        # `secrets.token_urlsafe(32)` style: URL-safe and without its `=` padding.
        base64.urlsafe_b64encode(_KEY_BYTES).decode().rstrip("="),
        base64.b64encode(_KEY_BYTES).decode().rstrip("="),
    ],
)
def test_data_key_is_read_in_either_base64_alphabet(written: str) -> None:
    assert load_settings({"SCRM_DATA_KEY": written}, dotenv=None).data_key == _KEY_BYTES


@pytest.mark.parametrize(
    ("written", "says"),
    [
        (base64.urlsafe_b64encode(b"-" * 16).decode(), "got 16 bytes"),
        (base64.urlsafe_b64encode(bytes(range(200, 248))).decode(), "got 48 bytes"),
        ("not base64 at all!", "not base64"),
        (base64.b64encode(_KEY_BYTES).decode()[:10] + "-" + base64.b64encode(_KEY_BYTES).decode()[11:], "mixes"),
    ],
)
def test_a_data_key_that_is_not_32_bytes_says_what_is_wrong(written: str, says: str) -> None:
    with pytest.raises(SettingsError, match="SCRM_DATA_KEY") as raised:
        load_settings({"SCRM_DATA_KEY": written}, dotenv=None)
    assert says in str(raised.value)
    assert "32 bytes" in str(raised.value)
