"""The journey preview's notes in the reader's language.

`content.preview` writes its notes in English for the terminal (`scrm journeys preview`); the console
says the same from the entry's own fields (status, channel, delivery time), and takes the few values
only the note carries (a wait's end, a branch's answer, the horizon) from it. A note this module does
not recognise is shown as written.
"""

from __future__ import annotations

import re

from base.i18n import _, ngettext
from console.formatting import SHORT_DATETIME, china_time
from content.preview import TimelineEntry

_WAIT = re.compile(r"^wait until (?P<time>.+)$")
_WAIT_CLICK = re.compile(r"^wait for a click until (?P<time>.+)$")
_CLICKED = re.compile(r"^clicked (?P<step>\S+) within (?P<hours>\d+)h$")
_BRANCH = re.compile(r"^(?P<condition>.+): (?P<answer>yes|no) -> (?P<target>\S+)$")
_HORIZON = re.compile(r"^preview stops after (?P<days>\d+) days?$")


def preview_note(entry: TimelineEntry, locale: str) -> str:
    """What the timeline says about `entry`, translated."""
    note = entry.note
    if entry.status == "delivered":
        if entry.channel == "template_message":
            return _("template message (service notice): no window needed")
        if entry.channel == "mass_send":
            return _("goes out with the next mass send to the segment")
        return _("customer-service message, inside the follower's window")
    if entry.status == "held":
        when = china_time(entry.delivered_at, locale, SHORT_DATETIME)
        if note.startswith("held by quiet hours"):
            return _("held by quiet hours; sent at %(time)s") % {"time": when}
        return _("held until the follower's next interaction; delivered at %(time)s") % {"time": when}
    if entry.status == "expired":
        return _("expired: no window opened before it was dropped")
    if entry.status == "goal":
        if "(a click)" in note:
            return _("goal reached (a click): the journey ends")
        return _("goal reached (a purchase): the journey ends")
    if (found := _WAIT_CLICK.match(note)) and entry.status == "waiting":
        return _("wait for a click until %(time)s") % {"time": found["time"]}
    if entry.status == "exit":
        return _("the journey ends")
    if (found := _WAIT.match(note)) and entry.status == "waiting":
        return _("wait until %(time)s") % {"time": found["time"]}
    if (found := _BRANCH.match(note)) and entry.status == "branch":
        answer = _("yes") if found["answer"] == "yes" else _("no")
        condition = found["condition"]
        if clicked := _CLICKED.match(condition):
            condition = _("clicked %(step)s within %(hours)s hours") % {
                "step": clicked["step"],
                "hours": clicked["hours"],
            }
        return _("%(condition)s: %(answer)s → %(target)s") % {
            "condition": condition,
            "answer": answer,
            "target": found["target"],
        }
    if (found := _HORIZON.match(note)) and entry.status == "stopped":
        days = int(found["days"])
        return ngettext("the preview stops after %(num)d day", "the preview stops after %(num)d days", days) % {
            "num": days
        }
    return note
