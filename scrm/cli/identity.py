"""`scrm identities review|unlink` and `scrm profiles export|erase`: identity admin and data requests."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from base.clock import SystemClock
from base.settings import Settings
from base.vault import PhoneVault
from identity.erase import erase_subject
from identity.export import export_subject
from identity.linking import unlink_follower
from identity.review import CandidateError, confirm_candidate, find_candidates, list_candidates, reject_candidate
from identity.subjects import SubjectNotFound, find_subject
from orders.aggregates import refresh_profiles
from scrm.cli.common import with_database
from scrm.cli.main import UsageError
from storage.db import Database
from storage.followers import find_follower


def _default_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def register(subparsers: Any) -> None:
    identities = subparsers.add_parser("identities", help="weak identity review and admin unlinking")
    actions = identities.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    review = actions.add_parser("review", help="list candidate matches of masked numbers; confirm or reject one")
    decision = review.add_mutually_exclusive_group()
    decision.add_argument("--confirm", type=int, metavar="ID", help="the order belongs to the profile")
    decision.add_argument("--reject", type=int, metavar="ID", help="not the same person")
    review.add_argument("--all", action="store_true", help="list decided candidates too")
    review.add_argument("--actor", default=_default_actor(), help="who decides (audited)")
    review.set_defaults(run=lambda args: with_database(lambda db, s: review_command(db, s, args)))
    unlink = actions.add_parser("unlink", help="detach a follower from its profile (unmerge), keeping history")
    unlink.add_argument("openid")
    unlink.add_argument("--appid", help="the official account (default: the configured one)")
    unlink.add_argument("--reason", default="admin unlink", help="why (audited)")
    unlink.add_argument("--actor", default=_default_actor(), help="who unlinks (audited)")
    unlink.set_defaults(run=lambda args: with_database(lambda db, s: unlink_command(db, s, args)))

    profiles = subparsers.add_parser("profiles", help="data requests: export or erase a person's data")
    verbs = profiles.add_subparsers(dest="action", metavar="ACTION")
    verbs.required = True
    export = verbs.add_parser("export", help="write everything held about a person as JSON")
    export.add_argument("who", metavar="PHONE|OPENID")
    export.add_argument("--appid", help="narrow an openid to one account")
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=lambda args: with_database(lambda db, s: export_command(db, s, args)))
    erase = verbs.add_parser("erase", help="erase a person's personal data everywhere (permanent)")
    erase.add_argument("who", metavar="PHONE|OPENID")
    erase.add_argument("--appid", help="narrow an openid to one account")
    erase.add_argument("--yes", action="store_true", help="confirm: erasure cannot be undone")
    erase.add_argument("--actor", default=_default_actor(), help="who erases (recorded)")
    erase.set_defaults(run=lambda args: with_database(lambda db, s: erase_command(db, s, args)))


async def review_command(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    """Find new candidates, then list them, or record one decision."""
    now = SystemClock().now()
    added, profile_id = 0, 0
    try:
        async with db.transaction() as session:
            if args.confirm is not None:
                profile_id = await confirm_candidate(session, args.confirm, actor=args.actor, now=now)
            elif args.reject is not None:
                await reject_candidate(session, args.reject, actor=args.actor, now=now)
            else:
                added = await find_candidates(session, now=now)
    except CandidateError as error:
        raise UsageError(str(error)) from None
    if args.confirm is not None:
        await refresh_profiles(db, [profile_id], now)
        print(f"candidate {args.confirm} confirmed: the order now counts for profile {profile_id}")
        return 0
    if args.reject is not None:
        print(f"candidate {args.reject} rejected")
        return 0
    async with db.session() as session:
        views = await list_candidates(session, status=None if args.all else "pending")
    print(f"{added} new candidate(s); {len(views)} listed")
    for view in views:
        print(
            f"#{view.id} [{view.status}] order {view.platform}:{view.order_no} ({view.phone_hint}, "
            f"{view.receiver_name}, {view.receiver_city}) ~ profile {view.profile_id} "
            f"({view.profile_phone}, {view.profile_name}, {view.profile_city})"
        )
    return 0


async def unlink_command(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    """Detach one follower from its profile."""
    appid = args.appid or settings.wechat_appid
    if not appid:
        raise UsageError("give --appid (no WECHAT_APPID is configured)")
    now = SystemClock().now()
    async with db.transaction() as session:
        follower = await find_follower(session, appid, args.openid)
        if follower is None:
            raise UsageError(f"no follower {args.openid} on {appid}")
        detached_from = await unlink_follower(session, follower, actor=args.actor, reason=args.reason, now=now)
    if detached_from is None:
        print(f"follower {follower.id} was not linked to a profile; nothing changed")
        return 0
    print(f"follower {follower.id} unlinked from profile {detached_from}; history and audit entry kept")
    return 0


async def export_command(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    """Write the person's data as JSON to --out or standard output."""
    vault = PhoneVault(settings.data_key)
    async with db.session() as session:
        try:
            subject = await find_subject(session, vault, args.who, appid=args.appid)
        except SubjectNotFound as error:
            raise UsageError(str(error)) from None
        document = await export_subject(session, subject, now=SystemClock().now(), data_key=settings.data_key)
    text = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    if args.out is None:
        sys.stdout.write(text + "\n")
    else:
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


async def erase_command(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    """Erase the person's data in one transaction; prints what was touched, never the data."""
    if not args.yes:
        raise UsageError("erasure is permanent: run again with --yes")
    vault = PhoneVault(settings.data_key)
    async with db.transaction() as session:
        try:
            subject = await find_subject(session, vault, args.who, appid=args.appid)
        except SubjectNotFound as error:
            raise UsageError(str(error)) from None
        report = await erase_subject(
            session, subject, actor=args.actor, now=SystemClock().now(), data_key=settings.data_key
        )
    touched = ", ".join(f"{table} {count}" for table, count in sorted(report.rows.items()))
    print(f"erasure {report.erasure_id} recorded; rows touched: {touched}")
    return 0
