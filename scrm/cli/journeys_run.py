"""`scrm report journeys`, `scrm pushes status|dispatch|recover`, `scrm mass-send schedule|list|cancel`."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from base.clock import CHINA, SystemClock
from base.settings import Settings
from handlers.context import Services
from journeys.mass_plans import MassSendError, allowance, cancel_mass_send
from journeys.report import format_report, journey_report
from journeys.runtime import build_runtime
from scrm.cli.common import print_json, settings_for, with_database
from scrm.cli.main import UsageError
from storage import mass_sends as mass_store
from storage.db import Database
from storage.pushes import count_by_status
from storage.reports import template_figures


def register(subparsers: Any) -> None:
    report = subparsers.add_parser("report", help="reports")
    kinds = report.add_subparsers(dest="report", metavar="REPORT")
    kinds.required = True
    journeys = kinds.add_parser("journeys", help="pushes, holds, expiries, failures, orders and revenue per step")
    journeys.add_argument("--json", action="store_true", help="machine-readable output")
    journeys.set_defaults(run=_report_journeys)
    templates = kinds.add_parser("templates", help="per template: sent, failed, WeChat's delivery reports, orders")
    templates.add_argument("--json", action="store_true", help="machine-readable output")
    templates.set_defaults(run=_report_templates)

    pushes = subparsers.add_parser("pushes", help="the push outbox")
    actions = pushes.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    status = actions.add_parser("status", help="how many pushes are in each state")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=_pushes_status)
    dispatch = actions.add_parser("dispatch", help="send every due push now (once), then exit")
    dispatch.set_defaults(run=_pushes_dispatch)
    recover = actions.add_parser("recover", help="expire overdue pushes and recover claims of dead dispatchers")
    recover.set_defaults(run=_pushes_recover)

    mass = subparsers.add_parser("mass-send", help="broadcasts of a news template to a segment")
    mass_actions = mass.add_subparsers(dest="action", metavar="ACTION")
    mass_actions.required = True
    schedule = mass_actions.add_parser("schedule", help="plan a broadcast")
    schedule.add_argument("--name", required=True)
    schedule.add_argument("--template", required=True, help="a published mass_news template")
    schedule.add_argument(
        "--segment",
        default="all",
        help="'all' (default), a profile segment, tag:<profile tag> or saved:<saved segment>",
    )
    schedule.add_argument("--at", required=True, help="China time, YYYY-MM-DD HH:MM")
    schedule.add_argument("--monthly", action="store_true", help="repeat on the same day every month")
    schedule.add_argument("--appid", default="", help="the account (default: WECHAT_APPID)")
    schedule.set_defaults(run=_mass_schedule)
    listing = mass_actions.add_parser("list", help="planned and past broadcasts, WeChat's results, this month's count")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--appid", default="", help="the account whose monthly count to show (default: WECHAT_APPID)")
    listing.set_defaults(run=_mass_list)
    cancel = mass_actions.add_parser("cancel", help="cancel a broadcast still waiting for its time")
    cancel.add_argument("id", type=int)
    cancel.set_defaults(run=_mass_cancel)


def _report_journeys(args: argparse.Namespace) -> int:
    async def show(db: Database, _settings: Settings) -> int:
        async with db.session() as session:
            rows = await journey_report(session)
        if args.json:
            print_json({"journeys": rows})
        else:
            print("\n".join(format_report(rows)))
        return 0

    return with_database(show)


def _report_templates(args: argparse.Namespace) -> int:
    async def show(db: Database, _settings: Settings) -> int:
        async with db.session() as session:
            rows = await template_figures(session)
        if args.json:
            print_json(
                {
                    "templates": [
                        {**vars(row), "click_rate": round(row.click_rate, 4), "conversion": round(row.conversion, 4)}
                        for row in rows
                    ]
                }
            )
            return 0
        if not rows:
            print("no template has been sent yet")
        for row in rows:
            print(
                f"{row.template:<30} sent {row.sent:>7,}  failed {row.failed:>5,}"
                f"  delivered {row.reported_delivered:>7,}"
                f"  undelivered {row.reported_failed:>5,}  clicked {row.clicked:>5,} ({row.click_rate:.1%})"
                f"  orders {row.orders:>5,} ({row.conversion:.1%})"
                f"  ¥{row.revenue_fen / 100:,.2f}"
            )
        return 0

    return with_database(show)


def _pushes_status(args: argparse.Namespace) -> int:
    async def show(db: Database, _settings: Settings) -> int:
        async with db.engine.connect() as conn:
            counts = await count_by_status(conn)
        if args.json:
            print_json(counts)
        else:
            print("\n".join(f"{status:<10} {count}" for status, count in sorted(counts.items())) or "no pushes")
        return 0

    return with_database(show)


def _pushes_dispatch(_args: argparse.Namespace) -> int:
    async def dispatch(db: Database, settings: Settings) -> int:
        runtime = build_runtime(Services(db=db, settings=settings, clock=SystemClock()))
        try:
            housekeeping = await runtime.dispatcher.housekeeping()
            report = await runtime.dispatcher.drain()
        finally:
            await runtime.close()
        # The drain's counts are prefixed: its "unknown" and "expired" are not the housekeeping's (the
        # sends a dead dispatcher left interrupted, the pushes overdue), as in the scheduled dispatch job.
        print_json({**housekeeping, **{f"drain_{name}": value for name, value in report.as_dict().items()}})
        return 0

    return with_database(dispatch)


def _pushes_recover(_args: argparse.Namespace) -> int:
    async def recover(db: Database, settings: Settings) -> int:
        runtime = build_runtime(Services(db=db, settings=settings, clock=SystemClock()))
        try:
            print_json(await runtime.dispatcher.housekeeping())
        finally:
            await runtime.close()
        return 0

    return with_database(recover)


def _china_time(text: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=CHINA)
    except ValueError:
        raise UsageError(f"--at must be China time as YYYY-MM-DD HH:MM, got {text!r}") from None


def _mass_schedule(args: argparse.Namespace) -> int:
    at = _china_time(args.at)
    settings = settings_for()
    appid = args.appid or settings.wechat_appid
    if not appid:
        raise UsageError("--appid is required when WECHAT_APPID is not set")

    async def schedule(db: Database, settings: Settings) -> int:
        runtime = build_runtime(Services(db=db, settings=settings, clock=SystemClock()))
        try:
            plan = await runtime.mass_sender.schedule(
                name=args.name, appid=appid, template=args.template, segment=args.segment, at=at, monthly=args.monthly
            )
        except MassSendError as error:
            raise UsageError(str(error)) from None
        finally:
            await runtime.close()
        print(f"mass send {plan.name} #{plan.id} planned for {at:%Y-%m-%d %H:%M} China time to segment {plan.segment}")
        return 0

    return with_database(schedule, settings)


def _mass_list(args: argparse.Namespace) -> int:
    async def show(db: Database, settings: Settings) -> int:
        appid = args.appid or settings.wechat_appid
        async with db.session() as session:
            plans = sorted(await mass_store.list_plans(session, limit=1000), key=lambda p: p.scheduled_at)
            results = await mass_store.plan_results(session, plans)
            counter = await allowance(session, appid, SystemClock().now()) if appid else None
        rows = []
        for p in plans:
            found = results.get(p.id or 0)
            rows.append(
                {
                    "id": p.id, "name": p.name, "segment": p.segment, "status": p.status, "monthly": p.monthly,
                    "scheduled_at": p.scheduled_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"),
                    "recipients": p.recipients, "left_out_monthly_limit": p.skipped_monthly_limit,
                    "sent": found.sent if found and found.reported else None,
                    "errors": found.errors if found and found.reported else None,
                    "filtered": found.filtered if found and found.reported else None,
                }
            )  # fmt: skip
        used = None if counter is None else {"appid": appid, "used": counter.used, "limit": counter.limit,
                                               "per": counter.period}  # fmt: skip
        if args.json:
            print_json({"mass_sends": rows, "this_period": used})
            return 0
        if used is not None:
            print(f"{appid}: {used['used']} of {used['limit']} mass sends this {used['per']} (China time)")
        for row in rows or [{"name": "no mass sends planned"}]:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
        return 0

    return with_database(show)


def _mass_cancel(args: argparse.Namespace) -> int:
    async def cancel(db: Database, _settings: Settings) -> int:
        try:
            plan = await cancel_mass_send(db, args.id, by="cli", now=SystemClock().now())
        except MassSendError as error:
            raise UsageError(str(error)) from None
        print(f"mass send {plan.name} #{plan.id} cancelled")
        return 0

    return with_database(cancel)
