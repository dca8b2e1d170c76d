"""`scrm content validate|load|render|coupons` and `scrm journeys preview`: editors' content from a terminal."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from base.clock import CHINA, SystemClock, utc
from base.settings import Settings
from base.vault import PhoneVault, mask_phone
from content.issues import ContentError
from content.loader import read_content_dir
from content.model import JourneyDefinition
from content.preview import format_timeline, preview_timeline
from content.templates import TemplateBody, parse_body, render_body
from publishing.coupons import CouponError, load_codes, pool_statuses, read_codes_file
from publishing.preview_source import (
    PreviewError,
    Subject,
    build_preview_input,
    bundle_journey,
    find_subject,
    published_bodies,
    stored_journey,
)
from publishing.publish import load_directory
from publishing.versions import current_version
from scrm.cli.common import print_json, with_database
from scrm.cli.main import UsageError
from storage import content as store
from storage.db import Database


def register(subparsers: Any) -> None:
    content = subparsers.add_parser("content", help="templates, journeys, replies and coupon pools")
    actions = content.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    validate = actions.add_parser("validate", help="check a content directory without touching the database")
    validate.add_argument("dir", type=Path)
    validate.set_defaults(run=_validate)
    load = actions.add_parser("load", help="validate a content directory, then save what changed")
    load.add_argument("dir", type=Path)
    load.add_argument("--by", default="cli", help="editor name recorded on new versions")
    load.set_defaults(run=_load)
    render = actions.add_parser("render", help="preview a published template for a follower or the sample profile")
    render.add_argument("template")
    render.add_argument("--profile", metavar="PHONE|OPENID", help="a bound mobile number or a follower's openid")
    render.add_argument("--appid", help="the account, when an openid follows several")
    render.add_argument("--draft", action="store_true", help="render the newest version even if not published")
    render.add_argument("--json", action="store_true", help="print the API payload as JSON")
    render.set_defaults(run=_render)
    coupons = actions.add_parser("coupons", help="load coupon codes into a pool, or list the pools")
    coupons.add_argument("pool", nargs="?", help="pool name (omit to list every pool)")
    coupons.add_argument("file", nargs="?", type=Path, help="text file: one code per line")
    coupons.add_argument("--low-water-mark", type=int, help="warn when this many codes or fewer are left")
    coupons.set_defaults(run=_coupons)
    _register_preview(subparsers)


def _register_preview(subparsers: Any) -> None:
    # `scrm journeys` may also be registered by the journeys runtime's module: share its parser.
    journeys = subparsers.choices.get("journeys")
    if journeys is None:
        journeys = subparsers.add_parser("journeys", help="journeys: preview what a follower would receive")
    actions = next((a for a in journeys._actions if isinstance(a, argparse._SubParsersAction)), None)
    if actions is None:
        actions = journeys.add_subparsers(dest="action", metavar="ACTION")
        actions.required = True
    preview = actions.add_parser("preview", help="the timeline of what a follower would receive, and when")
    preview.add_argument("name")
    preview.add_argument("--follower", metavar="OPENID|PHONE", help="default: the sample profile")
    preview.add_argument("--appid", help="the account, when an openid follows several")
    preview.add_argument("--start", metavar="ISO", help="when the journey starts (China time unless a zone is given)")
    preview.add_argument("--messages-at", metavar="ISO,...", default="", help="when the follower writes to the account")
    preview.add_argument("--purchase-at", metavar="ISO", help="when the follower buys (reaches a purchase goal)")
    preview.add_argument(
        "--clicks",
        metavar="STEP[:HOURS],...",
        default="",
        help="send steps whose link the follower opens, HOURS after its delivery (default 1)",
    )
    preview.add_argument("--dir", type=Path, help="preview from a content directory instead of the database")
    preview.set_defaults(run=_preview)


def parse_moment(text: str, option: str) -> datetime:
    """An ISO time; without a zone it is China time (what editors mean)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} must be an ISO time such as 2026-01-05T10:00, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA)
    return utc(moment)


def _print_issues(error: ContentError | list[Any]) -> None:
    issues = error.issues if isinstance(error, ContentError) else error
    for issue in issues:
        print(str(issue))
    print(f"{len(issues)} problem(s); nothing was saved")


def _validate(args: argparse.Namespace) -> int:
    bundle = read_content_dir(args.dir)
    if bundle.issues:
        _print_issues(bundle.issues)
        return 1
    print(
        f"{args.dir}: ok - {len(bundle.templates)} templates, {len(bundle.journeys)} journeys, "
        f"{len(bundle.replies)} reply rules, {len(bundle.pools)} coupon pools"
    )
    return 0


def _load(args: argparse.Namespace) -> int:
    async def load(db: Database, _settings: Settings) -> int:
        try:
            report = await load_directory(db, args.dir, now=SystemClock().now(), by=args.by)
        except ContentError as error:
            _print_issues(error)
            return 1
        for line in report.lines():
            print(line)
        return 0

    return with_database(load)


def _render(args: argparse.Namespace) -> int:
    async def render(db: Database, settings: Settings) -> int:
        now = SystemClock().now()
        async with db.session() as session:
            template = await store.template_by_name(session, args.template)
            if template is None or template.id is None:
                raise UsageError(f"no template named {args.template!r}")
            version = (
                await store.latest_version(session, template.id)
                if args.draft
                else await current_version(session, args.template)
            )
            if version is None:
                raise UsageError(f"template {args.template} has no published version (use --draft)")
            subject = Subject()
            if args.profile:
                try:
                    subject = await find_subject(session, args.profile, PhoneVault(settings.data_key), args.appid)
                except PreviewError as error:
                    raise UsageError(str(error)) from None
        who = "the sample profile"
        if subject.profile is not None:
            # Never the number itself on a terminal: the stored mask, else a mask of the unsealed number.
            masked = subject.profile.phone_masked or mask_phone(
                PhoneVault(settings.data_key).unseal(subject.profile.phone_sealed)
            )
            who = f"profile {masked}"
        elif subject.follower is not None:
            who = f"follower {subject.follower.openid}"
        rendered = render_body(parse_body(version.body), subject.context(None, now))
        print(f"{args.template} v{version.version} ({version.state}, {template.kind}, {template.purpose}) for {who}:")
        print(rendered.preview_text())
        if args.json:
            openid = subject.follower.openid if subject.follower else "OPENID"
            if rendered.reply is not None:
                print_json(rendered.customer_service(openid))
            elif rendered.kind == "wechat_template":
                print_json(rendered.template_message(openid))
            else:
                print_json(rendered.payload)
        return 0

    return with_database(render)


def _coupons(args: argparse.Namespace) -> int:
    if args.pool and args.file is None:
        raise UsageError("give the file of codes to load: scrm content coupons POOL FILE")
    codes: list[str] = []
    if args.file is not None:
        try:
            codes = read_codes_file(args.file)
        except CouponError as error:
            raise UsageError(str(error)) from None
        if not codes:
            raise UsageError(f"{args.file}: no codes in the file")

    async def run(db: Database, _settings: Settings) -> int:
        if args.pool:
            try:
                async with db.transaction() as session:
                    pool, added = await load_codes(
                        session, args.pool, codes, now=SystemClock().now(), low_water_mark=args.low_water_mark
                    )
            except CouponError as error:
                raise UsageError(str(error)) from None
            print(f"{pool.name}: {added} new codes ({len(codes) - added} already loaded)")
        async with db.session() as session:
            for status in await pool_statuses(session):
                flag = "  LOW" if status.low_stock else ""
                print(f"{status.name}: {status.free} of {status.total} left (warn at {status.low_water_mark}){flag}")
        return 0

    return with_database(run)


def _parse_clicks(raw: str, journey: JourneyDefinition) -> dict[str, float]:
    sends = [step.id for step in journey.send_steps()]
    clicks: dict[str, float] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        step, _sep, hours = part.partition(":")
        if step not in sends:
            raise UsageError(f"--clicks: {step!r} is not a send step of {journey.name} ({', '.join(sends) or '-'})")
        try:
            clicks[step] = float(hours) if hours else 1.0
        except ValueError:
            raise UsageError(f"--clicks: {hours!r} is not a number of hours") from None
        if not 0 <= clicks[step] <= 24 * 60:
            raise UsageError(f"--clicks: {hours} is outside 0 to 1440 hours")
    return clicks


def _preview(args: argparse.Namespace) -> int:
    messages = [parse_moment(part, "--messages-at") for part in args.messages_at.split(",") if part.strip()]
    purchase = parse_moment(args.purchase_at, "--purchase-at") if args.purchase_at else None
    start_option = parse_moment(args.start, "--start") if args.start else None

    if args.dir is not None and args.follower:
        raise UsageError("--follower reads the database: drop --dir to preview a loaded journey for a follower")

    def show(journey: JourneyDefinition, bodies: dict[str, TemplateBody], subject: Subject) -> int:
        start = start_option
        if start is None and subject.follower is not None and subject.follower.subscribed_at is not None:
            start = subject.follower.subscribed_at
        start = start or SystemClock().now()
        inputs = build_preview_input(journey, bodies, subject, start=start, messages_at=messages, purchase_at=purchase)
        inputs = replace(inputs, clicks=_parse_clicks(args.clicks, journey))
        who = f"follower {subject.follower.openid}" if subject.follower else "the sample profile"
        print(f"journey {journey.name} for {who}, from {start.astimezone(CHINA):%Y-%m-%d %H:%M} China time:")
        for line in format_timeline(preview_timeline(inputs)):
            print(line)
        return 0

    async def from_database(db: Database, settings: Settings) -> int:
        subject = Subject()
        async with db.session() as session:
            journey = await stored_journey(session, args.name)
            bodies = await published_bodies(session)
            if args.follower:
                subject = await find_subject(session, args.follower, PhoneVault(settings.data_key), args.appid)
        return show(journey, bodies, subject)

    try:
        if args.dir is None:
            return with_database(from_database)
        bundle = read_content_dir(args.dir)
        if bundle.issues:
            _print_issues(bundle.issues)
            return 1
        journey, bodies = bundle_journey(bundle, args.name)
        return show(journey, bodies, Subject())
    except PreviewError as error:
        raise UsageError(str(error)) from None
