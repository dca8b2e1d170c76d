"""`scrm users add|list|passwd`: console accounts. Passwords come from a prompt or stdin, never argv."""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from typing import Any, TextIO

from base.clock import SystemClock
from base.settings import Settings
from console.passwords import PasswordPolicyError, check_password_policy, hash_password
from scrm.cli.common import print_json, with_database
from scrm.cli.main import UsageError
from storage.console import (
    DEFAULT_ROLE,
    ROLES,
    UserExistsError,
    create_user,
    end_sessions_of_user,
    find_user,
    list_users,
)
from storage.db import Database
from storage.models.core import AuditEntry

_NAME = re.compile(r"^[A-Za-z0-9_.@-]{2,60}$")


def register(subparsers: Any) -> None:
    users = subparsers.add_parser("users", help="console users (admins and editors)")
    actions = users.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="create a console user; the password is prompted for (or read from stdin)")
    add.add_argument("name", help="sign-in name: 2-60 letters, digits, _ . @ -")
    add.add_argument(
        "--role",
        default=DEFAULT_ROLE,
        choices=ROLES,
        help=f"admin: everything; editor: content and reports (default: {DEFAULT_ROLE}, the least privilege)",
    )
    add.set_defaults(run=_add)
    listing = actions.add_parser("list", help="list console users")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=_list)
    passwd = actions.add_parser("passwd", help="set a new password (prompted) and sign the user out everywhere")
    passwd.add_argument("name")
    passwd.set_defaults(run=_passwd)


def read_new_password(stdin: TextIO | None = None) -> str:
    """Ask twice on a terminal; otherwise take the first line of stdin (for scripts and pipes)."""
    stream = stdin or sys.stdin
    if stream.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise UsageError("the two passwords differ; nothing was changed")
        password = first
    else:
        password = stream.readline().rstrip("\r\n")
        if not password:
            raise UsageError("no password on stdin (pipe one line, or run in a terminal to be prompted)")
    try:
        check_password_policy(password)
    except PasswordPolicyError as error:
        raise UsageError(str(error)) from None
    return password


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"user name must be 2-60 letters, digits, _ . @ or -, got {name!r}")
    return name


async def add_user(db: Database, *, name: str, role: str, password: str) -> int:
    """Create the user and audit it; returns its id. Raises UsageError when the name is taken."""
    now = SystemClock().now()
    async with db.transaction() as session:
        try:
            user = await create_user(session, name=name, role=role, password_hash=hash_password(password), now=now)
        except UserExistsError as error:
            raise UsageError(str(error)) from None
        session.add(AuditEntry(at=now, actor="cli", action="console.user_added", target=name, detail={"role": role}))
    assert user.id is not None
    return user.id


async def set_password(db: Database, *, name: str, password: str) -> int:
    """Replace a user's password and end their sessions; returns how many sessions ended."""
    now = SystemClock().now()
    async with db.transaction() as session:
        user = await find_user(session, name)
        if user is None or user.id is None:
            raise UsageError(f"no console user named {name!r}")
        user.password_hash = hash_password(password)
        session.add(user)
        ended = await end_sessions_of_user(session, user.id, now=now)
        session.add(AuditEntry(at=now, actor="cli", action="console.password_set", target=name, detail={}))
    return ended


def _add(args: argparse.Namespace) -> int:
    name = _check_name(args.name)
    password = read_new_password()

    async def work(db: Database, _settings: Settings) -> int:
        await add_user(db, name=name, role=args.role, password=password)
        print(f"console user {name} added with role {args.role}")
        return 0

    return with_database(work)


def _passwd(args: argparse.Namespace) -> int:
    name = _check_name(args.name)
    password = read_new_password()

    async def work(db: Database, _settings: Settings) -> int:
        ended = await set_password(db, name=name, password=password)
        print(f"password of {name} changed; {ended} open session(s) ended")
        return 0

    return with_database(work)


def _list(args: argparse.Namespace) -> int:
    async def work(db: Database, _settings: Settings) -> int:
        async with db.session() as session:
            users = await list_users(session)
        rows = [
            {
                "name": user.name,
                "role": user.role,
                "disabled": user.disabled,
                "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
            }
            for user in users
        ]
        if args.json:
            print_json(rows)
        elif not rows:
            print("no console users yet: scrm users add NAME --role admin")
        else:
            for row in rows:
                state = " (disabled)" if row["disabled"] else ""
                print(f"{row['name']:<24} {row['role']:<8} last login: {row['last_login_at'] or 'never'}{state}")
        return 0

    return with_database(work)
