"""`scrm users add|list|passwd`: passwords from stdin or a prompt, never from the command line."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

import scrm.cli.users as users_cli
from console.passwords import verify_password
from scrm.cli.main import UsageError, main
from storage.db import Database
from storage.models.console import ConsoleUser
from storage.models.core import AuditEntry


class Stdin(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_password_is_never_an_argument() -> None:
    with pytest.raises(SystemExit):
        main(["users", "add", "alice", "--role", "admin", "--password", "secret-secret"])


def test_short_password_from_stdin_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr("sys.stdin", Stdin("short\n"))
    assert main(["users", "add", "alice", "--role", "admin"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err


def test_empty_stdin_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr("sys.stdin", Stdin(""))
    assert main(["users", "add", "alice", "--role", "editor"]) == 2
    assert "no password on stdin" in capsys.readouterr().err


def test_bad_name_and_role_are_refused(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr("sys.stdin", Stdin("long-enough-pw\n"))
    assert main(["users", "add", "a b", "--role", "editor"]) == 2
    assert "user name must be" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["users", "add", "alice", "--role", "root"])


def test_prompt_asks_twice_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["first-password", "other-password"])
    monkeypatch.setattr("getpass.getpass", lambda _prompt: next(answers))
    with pytest.raises(UsageError, match="differ"):
        users_cli.read_new_password(Terminal())


async def test_add_and_reset_a_user(db: Database) -> None:
    cli_db = db
    await users_cli.add_user(cli_db, name="alice", role="admin", password="first-password-1")
    with pytest.raises(UsageError, match="already exists"):
        await users_cli.add_user(cli_db, name="alice", role="editor", password="first-password-1")
    ended = await users_cli.set_password(cli_db, name="alice", password="second-password-2")
    assert ended == 0
    async with cli_db.session() as session:
        user = (await session.exec(select(ConsoleUser))).one()
        actions = [entry.action for entry in (await session.exec(select(AuditEntry))).all()]
    assert user.role == "admin"
    assert verify_password("second-password-2", user.password_hash)
    assert not verify_password("first-password-1", user.password_hash)
    assert "first-password" not in user.password_hash
    assert actions == ["console.user_added", "console.password_set"]
    with pytest.raises(UsageError, match="no console user"):
        await users_cli.set_password(cli_db, name="nobody", password="second-password-2")


def test_a_user_added_without_a_role_gets_the_least_privilege(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SCRM_DATABASE_URL", url)
    monkeypatch.setattr("sys.stdin", Stdin("long-enough-pw\n"))
    assert main(["users", "add", "bob"]) == 0
    assert "with role editor" in capsys.readouterr().out

    async def stored_role() -> str:
        db = Database(url)
        try:
            async with db.session() as session:
                return (await session.exec(select(ConsoleUser.role).where(ConsoleUser.name == "bob"))).one()
        finally:
            await db.dispose()

    assert asyncio.run(stored_role()) == "editor"
