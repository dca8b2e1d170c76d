"""What the engine writes about pushes, journey runs, the scheduler, mass sends and imports, as messages.

Each entry is the English the engine stores (see console.engine_text). Phrases the engine keeps in a
constant are read from it; phrases it builds with an f-string are matched by their shape, and
tests/console/test_engine_text.py builds them with the engine's own code where it can, so a reworded
reason fails a test instead of showing English on a Chinese page.
"""

from __future__ import annotations

import re

from base.i18n import N_
from console.phrasebook import Shape, labelled, nested, shape
from console.timeline import kind_name
from orders.erased import REASON as ERASED_REASON
from orders.sources import OLE_MESSAGE

# Phrases stored as they are: push reasons (journeys.policy, content.send_rules, journeys.dispatcher,
# storage.pushes), run end reasons (journeys.runner, journeys.enrolment) and the scheduler's own words.
ENGINE_EXACT: dict[str, str] = {
    # Why a push was not sent, or was sent the way it was.
    "expired": N_("expired"),
    "expired before it could be delivered": N_("expired before it could be delivered"),
    "follower no longer exists": N_("follower no longer exists"),
    "no marketing consent": N_("no marketing consent"),
    "quiet hours": N_("quiet hours"),
    "frequency cap reached": N_("frequency cap reached"),
    "template messages may carry service notices only, not marketing": N_(
        "template messages may carry service notices only, not marketing"
    ),
    "template-message API paused": N_("template-message API paused"),
    "service notice through a template message": N_("service notice through a template message"),
    "customer-service count used up (45047): waiting for the next interaction": N_(
        "customer-service count used up (45047): waiting for the next interaction"
    ),
    "customer-service API paused": N_("customer-service API paused"),
    "inside the 48-hour window of the last message": N_("inside the 48-hour window of the last message"),
    "inside the 1-minute window of the last follow/click/scan": N_(
        "inside the 1-minute window of the last follow/click/scan"
    ),
    "5 messages already sent in this 48-hour window": N_("5 messages already sent in this 48-hour window"),
    "3 messages already sent in this 1-minute window": N_("3 messages already sent in this 1-minute window"),
    "no customer-service window open": N_("no customer-service window open"),
    "follower interacted": N_("follower interacted"),
    "claim of a dead dispatcher": N_("claim of a dead dispatcher"),
    "interrupted mid-send": N_("interrupted mid-send"),
    "interrupted mid-send: it may or may not have reached the follower; never resent": N_(
        "interrupted mid-send: it may or may not have reached the follower; never resent"
    ),
    "no result recorded": N_("no result recorded"),
    "API paused by an earlier send": N_("API paused by an earlier send"),
    "an earlier push of this follower was refused the window": N_(
        "an earlier push of this follower was refused the window"
    ),
    "journey goal reached": N_("journey goal reached"),
    # Why a run ended, or why a follower's open pushes were cancelled (the event that stopped them).
    "unfollowed": N_("unfollowed the account"),
    "consent_withdrawn": N_("withdrew marketing consent"),
    "journey deleted": N_("journey deleted"),
    "last step done": N_("last step done"),
    "the journey loops without a wait": N_("the journey loops without a wait"),
    # The scheduler's record of a job cancelled because it stopped ticking.
    "cancelled (stalled)": N_("cancelled (stalled)"),
    # An order of an erased person, counted among an import's rejects (orders.erased).
    ERASED_REASON: N_("erased person: their data is not imported again"),
    # Import failures with no parameter (orders.opening).
    "--platform generic needs --mapping FILE naming the columns": N_(
        "--platform generic needs --mapping FILE naming the columns"
    ),
    "the order number is empty": N_("the order number is empty"),
    # Mass sends refused when planned (journeys.mass_plans).
    "a mass send needs a name of 1-100 characters": N_("a mass send needs a name of 1-100 characters"),
    "choose an audience: all, a segment, tag:<name> or saved:<name> (at most 40 characters)": N_(
        "choose an audience: all, a segment, tag:<name> or saved:<name> (at most 40 characters)"
    ),
    "the time of a mass send needs a time zone": N_("the time of a mass send needs a time zone"),
    # engagement.channels.
    "a channel needs a name of 1-100 characters": N_("a channel needs a name of 1-100 characters"),
}

# The reject codes an import counts rows under (orders.cells.CellError.reason).
REJECT_REASONS: dict[str, str] = {
    "missing_order_no": N_("order number missing"),
    "order_no_sci_notation": N_("order number in scientific notation"),
    "bad_order_no": N_("order number with unexpected characters"),
    "bad_money": N_("amount not a number"),
    "bad_time": N_("date or time not readable"),
    "unknown_status": N_("unknown order status"),
    "bad_quantity": N_("quantity not a number"),
}


def _from_format(template: str, **groups: str) -> str:
    """A pattern for a str.format template the engine keeps as a constant: each `{name}` a group."""
    pattern = re.escape(template)
    for name, group in groups.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>{group})")
    return pattern


_FOLLOWER = labelled("follower")
_KIND = labelled("template_kind")

ENGINE_SHAPES: tuple[Shape, ...] = (
    # journeys.policy: a deferral that would end after the push's expiry.
    shape(
        r"(?P<reason>.+); expired before it could be sent",
        N_("%(reason)s; expired before it could be sent"),
        reason=nested,
    ),
    shape(
        r"follower is (?P<status>\w+) \((?P<errcode>-?\d+)\)",
        N_("follower is %(status)s (%(errcode)s)"),
        status=_FOLLOWER,
    ),
    shape(r"follower is (?P<status>\w+)", N_("follower is %(status)s"), status=_FOLLOWER),
    shape(
        r"a (?P<kind>\w+) template cannot be pushed one to one \(use a mass send\)",
        N_("a %(kind)s template cannot be pushed one to one (use a mass send)"),
        kind=_KIND,
    ),
    # journeys.outcomes: the last of the retries.
    shape(
        r"gave up after (?P<attempts>\d+) attempts: (?P<reason>.*)",
        N_("gave up after %(attempts)s attempts: %(reason)s"),
        reason=nested,
    ),
    # journeys.reactions: what a failed send meant.
    shape(
        r"template could not be rendered: (?P<error>.+)", N_("template could not be rendered: %(error)s"), error=nested
    ),
    shape(r"WeChat unreachable: (?P<detail>.+)", N_("WeChat unreachable: %(detail)s")),
    shape(
        r"no clear answer from WeChat \((?P<detail>.+)\); never resent",
        N_("no clear answer from WeChat (%(detail)s); never resent"),
    ),
    # WeChat's own errmsg is kept as WeChat wrote it.
    shape(r"WeChat (?P<errcode>-?\d+): (?P<errmsg>.*)", N_("WeChat %(errcode)s: %(errmsg)s")),
    shape(
        r"(?P<api>[\w/.-]+): WeChat error (?P<errcode>-?\d+) \((?P<errmsg>.*)\)",
        N_("%(api)s: WeChat error %(errcode)s (%(errmsg)s)"),
    ),
    shape(
        r"TokenUnavailable: another process holds the token lease of (?P<appid>\S+) and published nothing",
        N_("no access token: another process holds the token lease of %(appid)s and published nothing"),
    ),
    # journeys.dispatcher and journeys.adapters: a payload refused before any call.
    shape(
        r"payload refused before sending: (?P<error>.+)", N_("payload refused before sending: %(error)s"), error=nested
    ),
    shape(r"unexpected error while sending: (?P<error>.+)", N_("unexpected error while sending: %(error)s")),
    shape(
        r"template version (?P<version>\d+) is malformed: (?P<error>.+)",
        N_("template version %(version)s is malformed: %(error)s"),
        error=nested,
    ),
    # journeys.runner and journeys.enrolment: why a push was skipped or a run ended.
    shape(r"template (?P<template>.+) has no published version", N_("template %(template)s has no published version")),
    shape(r"step (?P<step>.+) no longer exists in the journey", N_("step %(step)s no longer exists in the journey")),
    shape(r"exit step (?P<step>.+)", N_("exit step %(step)s")),
    shape(r"goal: (?P<event>\w+)", N_("goal reached: %(event)s"), event=kind_name),
    # journeys.mass_send and journeys.mass_plans.
    shape(r"saved segment (?P<name>.+) no longer exists", N_("saved segment %(name)s no longer exists")),
    shape(r"there is no saved segment (?P<name>.+)", N_("there is no saved segment %(name)s")),
    shape(
        r"template (?P<template>.+) does not exist or has no published version",
        N_("template %(template)s does not exist or has no published version"),
    ),
    shape(
        r"template (?P<template>.+) is a (?P<kind>\w+) template; a mass send needs mass_news",
        N_("template %(template)s is a %(kind)s template; a mass send needs mass_news"),
        kind=_KIND,
    ),
    shape(
        r"account (?P<appid>\S+) already has (?P<used>\d+) mass sends in (?P<when>\S+); "
        r"WeChat allows (?P<limit>\d+) a day",
        N_("account %(appid)s already has %(used)s mass sends on %(when)s; WeChat allows %(limit)s a day"),
    ),
    shape(
        r"account (?P<appid>\S+) already has (?P<used>\d+) mass sends in (?P<when>\S+); "
        r"WeChat allows (?P<limit>\d+) a month",
        N_("account %(appid)s already has %(used)s mass sends in %(when)s; WeChat allows %(limit)s a month"),
    ),
    shape(
        r"mass send #(?P<id>\d+) is not waiting to be sent, so it cannot be cancelled",
        N_("mass send #%(id)s is not waiting to be sent, so it cannot be cancelled"),
    ),
    # engagement.channels: a channel the console's own checks let through but the domain refused.
    shape(
        r"scene (?P<scene>.+): use 1-64 letters, digits, '_' or '-'",
        N_("scene %(scene)s: use 1-64 letters, digits, '_' or '-'"),
    ),
    shape(
        r"a temporary QR code lasts 1-(?P<most>\d+) days, not (?P<days>-?\d+)",
        N_("a temporary QR code lasts 1-%(most)s days, not %(days)s"),
    ),
    shape(
        r"scene (?P<scene>.+) already has a channel on this account",
        N_("scene %(scene)s already has a channel on this account"),
    ),
    # orders.cells and orders.records: the detail of a rejected row.
    shape(
        r"order number (?P<value>.+) was turned into scientific notation",
        N_("order number %(value)s was turned into scientific notation"),
    ),
    shape(
        r"order number (?P<value>.+) has unexpected characters", N_("order number %(value)s has unexpected characters")
    ),
    shape(r"order status (?P<value>.+) is not one we know", N_("order status %(value)s is not one we know")),
    shape(r"quantity (?P<value>.+) is not a number", N_("quantity %(value)s is not a number")),
    shape(r"(?P<column>.+?): (?P<value>.+) is not an amount", N_("%(column)s: %(value)s is not an amount")),
    shape(r"(?P<column>.+?): (?P<value>.+) is not a date and time", N_("%(column)s: %(value)s is not a date and time")),
    shape(r"(?P<column>.+?): (?P<value>.+) is not a real date", N_("%(column)s: %(value)s is not a real date")),
)

# orders.sources, orders.opening and orders.qianniu: why a file cannot be imported at all. These begin
# with the file's name, so they are tried after every other shape ("… does not exist" is generic).
FILE_SHAPES: tuple[Shape, ...] = (
    shape(
        _from_format(OLE_MESSAGE, name=".+"),
        N_(
            "%(name)s is an old Excel .xls file or a password-protected workbook: open it in Excel or WPS, "
            "remove any password and save it as .xlsx or as CSV (UTF-8), then import that file"
        ),
    ),
    shape(
        r"(?P<file>.+) is neither UTF-8, UTF-16 nor GB18030 text, nor an XLSX workbook: is it an export file\?",
        N_("%(file)s is neither UTF-8, UTF-16 nor GB18030 text, nor an XLSX workbook: is it an export file?"),
    ),
    shape(
        r"(?P<file>.+): no header row with known order columns in the first (?P<rows>\d+) rows; "
        r"choose --platform or give a --mapping file for this export",
        N_(
            "%(file)s: no header row with known order columns in the first %(rows)s rows; "
            "choose --platform or give a --mapping file for this export"
        ),
    ),
    shape(
        r"(?P<file>.+): the columns do not match any marketplace export we know; "
        r"choose --platform or give a --mapping file",
        N_(
            "%(file)s: the columns do not match any marketplace export we know; "
            "choose --platform or give a --mapping file"
        ),
    ),
    shape(
        r"(?P<file>.+?): column (?P<columns>.+) required by the (?P<preset>.+) preset is missing "
        r"\(the file has: (?P<headers>.*)\)",
        N_("%(file)s: column %(columns)s required by the %(preset)s preset is missing (the file has: %(headers)s)"),
    ),
    shape(
        r"(?P<file>.+?): the columns do not look like a (?P<preset>.+) export \(only the order number matched\)",
        N_("%(file)s: the columns do not look like a %(preset)s export (only the order number matched)"),
    ),
    shape(
        r"(?P<file>.+?): sheet (?P<sheet>.+) has no 订单编号 column",
        N_("%(file)s: sheet %(sheet)s has no 订单编号 column"),
    ),
    shape(
        r"unknown platform (?P<platform>.+); choose one of (?P<choices>.+)",
        N_("unknown platform %(platform)s; choose one of %(choices)s"),
    ),
    shape(
        r"(?P<file>.+) holds binary data, not a CSV or XLSX export",
        N_("%(file)s holds binary data, not a CSV or XLSX export"),
    ),
    shape(
        r"(?P<file>.+) is not a readable CSV file: (?P<error>.+)", N_("%(file)s is not a readable CSV file: %(error)s")
    ),
    shape(
        r"(?P<file>.+) is not a readable XLSX workbook \((?P<error>.+)\)",
        N_("%(file)s is not a readable XLSX workbook (%(error)s)"),
    ),
    shape(r"(?P<file>.+) is a directory, not an export file", N_("%(file)s is a directory, not an export file")),
    shape(r"(?P<file>.+) has no worksheets", N_("%(file)s has no worksheets")),
    shape(r"(?P<file>.+) has no rows", N_("%(file)s has no rows")),
    shape(r"(?P<file>.+) is empty", N_("%(file)s is empty")),
    shape(r"(?P<file>.+) does not exist", N_("%(file)s does not exist")),
)
