"""Journeys as data: the model, structural checks, and the preview timeline under a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from base.clock import CHINA
from content.journey_checks import TemplateInfo, validate_journey
from content.model import FollowerFacts, JourneyDefinition, ReEntry, Trigger, WaitStep
from content.preview import PreviewInput, TimelineEntry, preview_timeline

TEMPLATES = {
    "hello": TemplateInfo("hello", "text", "marketing"),
    "coupon": TemplateInfo("coupon", "text", "marketing", frozenset({"step.coupon_code"})),
    "notice": TemplateInfo("notice", "wechat_template", "service"),
    "monthly": TemplateInfo("monthly", "mass_news", "marketing"),
}


def _journey(steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": "j", "trigger": {"kind": "followed"}, "steps": steps, **extra}


def _messages(doc: dict[str, Any]) -> dict[str, str]:
    journey, issues = validate_journey(doc, "journey j", templates=TEMPLATES, pools=["p1"])
    assert journey is None
    return {issue.field: issue.message for issue in issues}


def test_a_valid_journey_round_trips_through_its_stored_document() -> None:
    doc = _journey(
        [
            {"id": "w", "type": "wait", "until": "10:00"},
            {"id": "s", "type": "send", "template": "coupon", "coupon_pool": "p1", "expires_after": "1d12h"},
            {
                "id": "b",
                "type": "branch",
                "condition": {"kind": "segment", "values": ["vip"]},
                "then": "x",
                "else": "x",
            },
            {"id": "x", "type": "exit"},
        ],
        goal={"kind": "purchase"},
        reentry={"policy": "after_days", "days": 30},
    )
    journey, issues = validate_journey(doc, "j", templates=TEMPLATES, pools=["p1"])
    assert issues == [] and journey is not None
    assert JourneyDefinition.from_doc(journey.to_doc()) == journey
    assert journey.to_doc()["steps"][1]["expires_after"] == "1d12h"
    assert journey.to_doc()["steps"][2]["else"] == "x"


def test_unknown_templates_and_missing_branch_targets_are_named() -> None:
    found = _messages(
        _journey(
            [
                {"id": "s", "type": "send", "template": "nope"},
                {"id": "b", "type": "branch", "condition": {"kind": "has_purchased"}, "then": "s", "else": "gone"},
            ]
        )
    )
    assert found["steps[0].template"] == "unknown template 'nope'"
    assert found["steps[1].else"] == "goes to step 'gone', which does not exist"


def test_unreachable_steps_and_loops_without_a_wait_are_refused() -> None:
    found = _messages(
        _journey(
            [
                {"id": "a", "type": "send", "template": "hello"},
                {"id": "b", "type": "branch", "condition": {"kind": "has_purchased"}, "then": "c", "else": "a"},
                {"id": "c", "type": "exit"},
                {"id": "orphan", "type": "send", "template": "hello"},
            ]
        )
    )
    assert found["steps[3]"] == "step 'orphan' can never be reached"
    assert found["steps[0]"] == "the loop a -> b -> a has no wait step"
    waited = _journey(
        [
            {"id": "a", "type": "send", "template": "hello"},
            {"id": "w", "type": "wait", "duration": "7d"},
            {"id": "b", "type": "branch", "condition": {"kind": "has_purchased"}, "then": "c", "else": "a"},
            {"id": "c", "type": "exit"},
        ]
    )
    assert validate_journey(waited, "j", templates=TEMPLATES)[1] == []


def test_step_checks_coupon_pool_store_link_and_mass_news() -> None:
    found = _messages(
        _journey(
            [
                {"id": "a", "type": "send", "template": "coupon"},
                {"id": "b", "type": "send", "template": "hello", "coupon_pool": "unknown", "store_link": "http://x.cn"},
                {"id": "c", "type": "send", "template": "monthly"},
            ]
        )
    )
    assert "name the coupon_pool" in found["steps[0].coupon_pool"]
    assert found["steps[1].coupon_pool"] == "unknown coupon pool 'unknown'"
    assert "https" in found["steps[1].store_link"]
    assert "mass send" in found["steps[2].template"]


def test_shape_errors_name_the_field() -> None:
    found = _messages(
        {
            "name": "j",
            "trigger": {"kind": "followed_scene"},
            "steps": [
                {"id": "w", "type": "wait"},
                {"id": "s", "type": "send", "template": "hello", "expire_after": "1d"},
                {"id": "z", "type": "jump"},
            ],
        }
    )
    assert "needs `scene`" in found["trigger"]
    assert "exactly one of `duration` or `until`" in found["steps[0]"]
    assert "not a known key" in found["steps[1].expire_after"]
    assert "must be one of branch, exit, send, wait" in found["steps[2].type"]


def test_trigger_goal_and_reentry_rules() -> None:
    assert Trigger(kind="followed_scene", scene="s1").matches_event("followed", {"scene": "s1"})
    assert not Trigger(kind="followed_scene", scene="s1").matches_event("followed", {"scene": "s2"})
    now = datetime(2026, 1, 5, tzinfo=UTC)
    assert not ReEntry(policy="never").allows(now - timedelta(days=400), now)
    assert ReEntry(policy="after_days", days=30).allows(now - timedelta(days=30), now)
    assert not ReEntry(policy="after_days", days=30).allows(now - timedelta(days=29), now)
    wait = WaitStep(type="wait", id="w", until="10:00")
    # 01:00 UTC is 09:00 China time: the same morning at 10:00.
    assert wait.resume_at(datetime(2026, 1, 5, 1, 0, tzinfo=UTC)) == datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


# --- the preview timeline ------------------------------------------------------------------------------


def china(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=CHINA).astimezone(UTC)


def _timeline(steps: list[dict[str, Any]], **kwargs: Any) -> list[TimelineEntry]:
    journey = JourneyDefinition.model_validate(_journey(steps, goal={"kind": "purchase"}))
    return preview_timeline(PreviewInput(journey=journey, templates=TEMPLATES, **kwargs))


def _sends(entries: list[TimelineEntry]) -> list[tuple[str, str, datetime | None]]:
    return [(e.step_id, e.status, e.delivered_at) for e in entries if e.template]


def test_the_follow_window_carries_the_welcome_and_later_pushes_wait_for_a_message() -> None:
    entries = _timeline(
        [
            {"id": "welcome", "type": "send", "template": "hello"},
            {"id": "later", "type": "wait", "duration": "1d"},
            {"id": "story", "type": "send", "template": "hello", "expires_after": "3d"},
        ],
        start=china(5, 10),
        messages_at=[china(7, 15)],
    )
    assert _sends(entries) == [("welcome", "delivered", china(5, 10)), ("story", "held", china(7, 15))]
    held = next(e for e in entries if e.step_id == "story")
    assert "held: no customer-service window open; delivered at next interaction (01-07 15:00)" in held.note


def test_a_push_nobody_opens_a_window_for_expires() -> None:
    entries = _timeline(
        [
            {"id": "w", "type": "wait", "duration": "1d"},
            {"id": "story", "type": "send", "template": "hello", "expires_after": "1d"},
        ],
        start=china(5, 10),
        messages_at=[china(8, 12)],
    )
    [story] = [e for e in entries if e.step_id == "story"]
    assert story.status == "expired" and story.delivered_at is None
    assert "no interaction before 01-07 10:00" in story.note


def test_quiet_hours_hold_marketing_but_not_service_notices() -> None:
    entries = _timeline(
        [{"id": "m", "type": "send", "template": "hello"}, {"id": "n", "type": "send", "template": "notice"}],
        start=china(5, 22),
        messages_at=[china(5, 22)],
    )
    assert _sends(entries) == [("m", "held", china(6, 8, 30)), ("n", "delivered", china(5, 22))]
    assert "quiet hours 21:30-08:30" in entries[0].note
    assert entries[1].channel == "template_message"


def test_the_windows_hold_five_after_a_message_and_three_after_the_follow() -> None:
    steps = [{"id": f"s{n}", "type": "send", "template": "hello", "expires_after": "1h"} for n in range(9)]
    entries = _timeline(steps, start=china(5, 12), messages_at=[china(5, 11)])
    assert [e.status for e in entries] == ["delivered"] * 8 + ["expired"]
    assert "48-hour window" in entries[4].note and "1-minute window" in entries[5].note
    assert "5 messages already sent" in entries[8].note


def test_branches_see_the_follower_and_a_purchase_reaches_the_goal() -> None:
    steps: list[dict[str, Any]] = [
        {"id": "w", "type": "wait", "duration": "2d"},
        {"id": "b", "type": "branch", "condition": {"kind": "tag", "values": ["vip"]}, "then": "vip", "else": "x"},
        {"id": "vip", "type": "send", "template": "hello"},
        {"id": "x", "type": "exit"},
    ]
    vip = _timeline(steps, start=china(5, 12), facts=FollowerFacts(tags=("vip",)))
    assert [e.status for e in vip] == ["waiting", "branch", "expired", "exit"]
    assert vip[1].note == "tag vip: yes -> vip"
    bought = _timeline(steps, start=china(5, 12), purchase_at=china(6, 9))
    assert [e.status for e in bought] == ["goal"] and bought[0].at == china(6, 9)


def test_a_looping_journey_preview_stops_at_the_horizon() -> None:
    steps = [
        {"id": "s", "type": "send", "template": "notice"},
        {"id": "w", "type": "wait", "duration": "7d", "next": "s"},
    ]
    entries = _timeline(steps, start=china(5, 12), horizon=timedelta(days=30))
    assert entries[-1].status == "stopped"
    assert sum(1 for e in entries if e.status == "delivered") == 5


CLICK_JOURNEY: dict[str, Any] = _journey(
    [
        {"id": "offer", "type": "send", "template": "hello"},
        {
            "id": "opened",
            "type": "branch",
            "condition": {"kind": "clicked", "step": "offer", "hours": 24},
            "then": "done",
            "else": "again",
        },
        {"id": "again", "type": "send", "template": "hello"},
        {"id": "done", "type": "exit"},
    ]
)


def test_a_click_condition_names_a_send_step_and_whole_hours() -> None:
    def with_condition(condition: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {**CLICK_JOURNEY, "steps": [dict(step) for step in CLICK_JOURNEY["steps"]]}
        doc["steps"][1]["condition"] = condition
        return doc

    journey, issues = validate_journey(CLICK_JOURNEY, "journey j", templates=TEMPLATES)
    assert issues == [] and journey is not None
    assert JourneyDefinition.from_doc(journey.to_doc()) == journey
    missing = _messages(with_condition({"kind": "clicked", "step": "offr", "hours": 24}))
    assert missing == {
        "steps[1].condition.step": "the branch waits for a click on step 'offr', which does not exist "
        "(send steps: offer, again)"
    }
    not_send = _messages(with_condition({"kind": "clicked", "step": "done", "hours": 24}))
    assert "a click on exit step 'done': only send steps have links" in not_send["steps[1].condition.step"]
    assert _messages(with_condition({"kind": "clicked", "step": "offer", "hours": 0})) == {
        "steps[1].condition.hours": "must be 1 to 720 hours, got 0"
    }
    assert _messages(with_condition({"kind": "clicked", "step": "offer", "hours": "1.5"})) == {
        "steps[1].condition.hours": "a whole number of hours, got '1.5'"
    }
    assert "needs `hours`" in _messages(with_condition({"kind": "clicked", "step": "offer"}))["steps[1].condition"]
    goal = _messages({**CLICK_JOURNEY, "goal": {"kind": "clicked", "step": "opened"}})
    assert goal == {"goal.step": "the goal waits for a click on branch step 'opened': only send steps have links"}


def _click_preview(clicks: dict[str, float], **extra: Any) -> list[TimelineEntry]:
    doc = {**CLICK_JOURNEY, **extra}
    journey = JourneyDefinition.from_doc(doc)
    start = datetime(2026, 3, 2, 10, 0, tzinfo=CHINA)
    return preview_timeline(PreviewInput(journey, TEMPLATES, start, messages_at=[start], clicks=clicks))


def test_the_preview_waits_for_a_click_and_resends_only_when_the_window_closed() -> None:
    ignored = _click_preview({})
    assert [(e.step_id, e.status) for e in ignored] == [
        ("offer", "delivered"),
        ("opened", "waiting"),
        ("opened", "branch"),
        ("again", "delivered"),
        ("done", "exit"),
    ]
    assert ignored[2].at - ignored[0].at == timedelta(hours=24)
    assert ignored[2].note == "clicked offer within 24h: no -> again"
    clicked = _click_preview({"offer": 2})
    assert [(e.step_id, e.status) for e in clicked][-2:] == [("opened", "branch"), ("done", "exit")]
    assert clicked[2].at - clicked[0].at == timedelta(hours=2)
    too_late = _click_preview({"offer": 30})
    assert too_late[2].note == "clicked offer within 24h: no -> again"


def test_a_click_goal_ends_the_preview_at_the_click() -> None:
    entries = _click_preview({"offer": 3}, goal={"kind": "clicked", "step": "offer"})
    assert entries[-1].status == "goal" and entries[-1].note == "goal reached (a click): the journey ends"
    assert entries[-1].at - entries[0].at == timedelta(hours=3)
