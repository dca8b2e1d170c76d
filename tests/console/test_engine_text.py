"""Engine texts in the reader's language: every phrase family, built where possible by the engine's own code.

A reason the engine rewords, or a new one, fails here (the scan of the engine's sources below finds
every literal and f-string it stores as a reason or reports as a finding) instead of showing English on
a Chinese page.
"""

from __future__ import annotations

import ast
import contextvars
import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from base.i18n import _, load_translations, use_translations
from console.engine_phrases import REJECT_REASONS
from console.engine_text import EXACT, SHAPES, engine_text, reject_reason
from console.labels import LABELS, label
from console.language import LOCALE_DIR
from console.phrasebook import placeholders
from content.journey_checks import TemplateInfo, validate_journey
from content.menu import MenuError, parse_menu
from content.sandbox import RenderError, inspect_source, render_source
from content.send_rules import WindowState, custom_send_verdict
from content.validation import validate_template_body
from journeys.dispatcher import DispatcherConfig
from journeys.jobs import JOBS
from journeys.outcomes import BatchReport, OutcomeWriter
from journeys.policy import DispatchPolicy, PushView, decide
from journeys.ports import RenderFailed
from journeys.reactions import FOLLOWER_STATUS_BY_CODE, SendResult, result_for_error
from orders.cells import CellError, clean_order_no, map_status, parse_china_time, parse_money
from orders.errors import ImportInputError
from orders.opening import open_export
from storage.pushes import FollowerFacts
from tests.support.catalogs import ROOT
from wechat.api.errors import TokenUnavailable, WeChatAPIError, WeChatNetworkError

CJK = re.compile(r"[\u4e00-\u9fff]")
NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 China time: outside the quiet hours


def in_language(locale: str, function: Callable[[], str]) -> str:
    """`function()` as a request in `locale` would run it (the language never leaks to other tests)."""

    def run() -> str:
        use_translations(load_translations(LOCALE_DIR, locale))
        return function()

    return contextvars.Context().run(run)


def zh(text: object) -> str:
    return in_language("zh_CN", lambda: engine_text(text))


def en(text: object) -> str:
    return in_language("en", lambda: engine_text(text))


def assert_chinese(text: str) -> str:
    """The text as a Chinese page shows it, which must be Chinese (and never blank)."""
    shown = zh(text)
    assert CJK.search(shown), text
    assert en(text).strip(), text
    return shown


# Exact phrases and shapes as tables.


def test_every_shape_names_its_groups_and_every_translation_fits() -> None:
    for one in SHAPES:
        groups = set(one.pattern.groupindex)
        assert placeholders(one.message) == groups, one.message
        chinese = in_language("zh_CN", functools.partial(_, one.message))
        assert placeholders(chinese) == groups, one.message
        assert chinese % dict.fromkeys(groups, "x")
    for phrase in EXACT:
        assert CJK.search(zh(phrase)), phrase


def test_unknown_text_is_shown_as_stored_never_blank_never_raised() -> None:
    for text in ("window closed", "some new reason: 7", "   ", "已过期", "follower is", "gave up after x attempts: y"):
        assert zh(text) == text and en(text) == text
    assert zh(None) == "" and zh(42) == "42"
    assert in_language("zh_CN", lambda: reject_reason("brand_new_code")) == "brand_new_code"


def test_english_pages_show_the_engines_words() -> None:
    for text in ("no marketing consent", "gave up after 5 attempts: WeChat 45015: response out of time limit",
                 "quiet hours; expired before it could be sent", "the order number is empty"):  # fmt: skip
        assert en(text) == text


def test_a_nested_reason_is_translated_inside_its_sentence() -> None:
    text = "gave up after 5 attempts: frequency cap reached; expired before it could be sent"
    assert zh(text) == "尝试 5 次后放弃：已达发送频次上限；未能在过期前发出"
    assert zh("gave up after 2 attempts: something new") == "尝试 2 次后放弃：something new"
    # WeChat's own errmsg stays as WeChat wrote it; the code is kept.
    assert zh("WeChat 45015: response out of time limit") == "微信错误 45015：response out of time limit"


# Push reasons, built by the dispatcher's own decisions.


def _facts(**changes: Any) -> FollowerFacts:
    values: dict[str, Any] = {
        "status": "subscribed", "last_message_at": NOW - timedelta(hours=1), "last_event_at": None,
        "marketing_consent": True, "marketing_sent": [], "custom_sent": [],
    }  # fmt: skip
    values.update(changes)
    return FollowerFacts(**values)


def _view(**changes: Any) -> PushView:
    values: dict[str, Any] = {"purpose": "marketing", "template_kind": "text", "expires_at": None}
    values.update(changes)
    return PushView(**values)


def test_every_decision_of_the_dispatch_policy_reads_in_chinese() -> None:
    policy = DispatchPolicy()
    night = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 23:00 China time
    cases = [
        (_view(expires_at=NOW), _facts(), NOW, {}),
        (_view(), None, NOW, {}),
        (_view(), _facts(status="unsubscribed"), NOW, {}),
        (_view(), _facts(marketing_consent=False), NOW, {}),
        (_view(), _facts(), night, {}),
        (_view(expires_at=night + timedelta(hours=1)), _facts(), night, {}),
        (_view(), _facts(marketing_sent=[NOW - timedelta(minutes=5)] * 2), NOW, {}),
        (_view(template_kind="wechat_template"), _facts(), NOW, {}),
        (_view(purpose="service", template_kind="wechat_template"), _facts(), NOW, {"template": NOW + timedelta(1)}),
        (_view(purpose="service", template_kind="wechat_template"), _facts(), NOW, {}),
        (_view(template_kind="mass_news"), _facts(), NOW, {}),
        (_view(), _facts(count_exceeded_at=NOW), NOW, {}),
        (_view(), _facts(last_message_at=None), NOW, {}),
        (_view(), _facts(), NOW, {"custom": NOW + timedelta(minutes=5)}),
        (_view(), _facts(), NOW, {}),
    ]
    reasons = [decide(view, facts, moment, policy, paused).reason for view, facts, moment, paused in cases]
    assert len(set(reasons)) == len(reasons)
    shown = {reason: assert_chinese(reason) for reason in reasons}
    assert shown["follower is unsubscribed"] == "粉丝状态：已取关"
    assert shown["quiet hours; expired before it could be sent"] == "免打扰时段；未能在过期前发出"
    assert shown["a mass_news template cannot be pushed one to one (use a mass send)"].startswith("群发图文")


def test_every_customer_service_window_verdict_reads_in_chinese() -> None:
    states = [
        WindowState(last_message_at=NOW - timedelta(hours=1)),
        WindowState(last_event_at=NOW - timedelta(seconds=10)),
        WindowState(last_message_at=NOW - timedelta(hours=1), sends_since_message=5),
        WindowState(last_event_at=NOW - timedelta(seconds=10), sends_since_event=3),
        WindowState(),
    ]
    for state in states:
        assert_chinese(custom_send_verdict(state, NOW).reason)


def test_what_a_failed_send_meant_reads_in_chinese() -> None:
    connect = WeChatNetworkError("message/custom/send", "cannot connect")
    connect.__cause__ = aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError)
    errors: list[Exception] = [
        RenderFailed("cannot render: 'profile' is undefined"),
        WeChatAPIError(45015, "response out of time limit or subscription is canceled", "message/custom/send"),
        WeChatAPIError(43004, "require subscribe", "message/custom/send"),
        connect,
        WeChatNetworkError("message/custom/send", "timeout after 5 s"),
        TokenUnavailable("another process holds the token lease of wx1234567890abcdef and published nothing"),
    ]
    for error in errors:
        assert_chinese(result_for_error(error, now=NOW, api="custom").reason)


class _Plan:
    def __init__(self, result: SendResult) -> None:
        self.row = {"id": 1, "due_at": NOW, "held_at": None, "attempts": 4}
        self.decision = decide(_view(), _facts(), NOW, DispatchPolicy(), {})
        self.result = result


def test_a_push_given_up_after_its_retries_reads_in_chinese() -> None:
    writer = OutcomeWriter(db=None, config=DispatcherConfig(max_attempts=5))  # type: ignore[arg-type]
    new: dict[str, Any] = {"attempts": 4, "reason": "WeChat -1: system error"}
    writer._fill(new, _Plan(SendResult("retry", "WeChat -1: system error", -1)), NOW, BatchReport())
    assert new["status"] == "failed"
    assert zh(new["reason"]) == "尝试 5 次后放弃：微信错误 -1：system error"


def test_a_follower_wechat_refuses_is_named_by_status() -> None:
    # journeys.outcomes cancels the follower's other pushes with "follower is <status> (<errcode>)".
    for code, status in FOLLOWER_STATUS_BY_CODE.items():
        name = in_language("zh_CN", functools.partial(label, status, "follower"))
        assert CJK.search(name)
        assert zh(f"follower is {status} ({code})") == f"粉丝状态：{name}（{code}）"


# Imports: reject codes and details from the readers of cells, failures from opening a file.


def _cell_errors() -> list[CellError]:
    calls: list[Callable[[], object]] = [
        lambda: clean_order_no(""), lambda: clean_order_no("2.0251E+15"), lambda: clean_order_no("12#4"),
        lambda: parse_money("abc", "实付款"), lambda: parse_china_time("soon", "付款时间"),
        lambda: parse_china_time("2025-02-30 10:00:00", "付款时间"), lambda: map_status("外星状态"),
    ]  # fmt: skip
    found = []
    for call in calls:
        with pytest.raises(CellError) as caught:
            call()
        found.append(caught.value)
    return found


def test_rejected_rows_read_in_chinese_by_code_and_detail() -> None:
    errors = _cell_errors()
    assert {error.reason for error in errors} <= set(REJECT_REASONS)
    for error in errors:
        assert CJK.search(in_language("zh_CN", functools.partial(reject_reason, error.reason))), error.reason
        assert_chinese(str(error))
    assert zh("实付款: 'abc' is not an amount") == "实付款：'abc' 不是金额"
    assert set(REJECT_REASONS) >= {"bad_quantity"}


def test_files_that_cannot_be_imported_read_in_chinese(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    old_excel = tmp_path / "old.xls"
    old_excel.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    strange = tmp_path / "strange.csv"
    strange.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    for path in (empty, binary, old_excel, strange, tmp_path / "missing.csv", tmp_path):
        with pytest.raises(ImportInputError) as caught:
            open_export(path)
        assert_chinese(str(caught.value))
    with pytest.raises(ImportInputError) as caught:
        open_export(strange, platform="nowhere")
    assert_chinese(str(caught.value))


# Content findings, from the content checks themselves.


def _template_issues(doc: dict[str, Any]) -> list[str]:
    body, issues = validate_template_body(doc, "template t")
    assert body is None
    return [issue.message for issue in issues]


def test_template_findings_read_in_chinese() -> None:
    messages = [
        *_template_issues({"kind": "text", "purpose": "marketing", "content": "{{ profile.nope }} {{ profile }}"}),
        *_template_issues({"kind": "text", "purpose": "marketing", "content": "{{ profile.name }} 关注有礼"}),
        *_template_issues({"kind": "text", "purpose": "marketing", "content": "{% if %}"}),
        *_template_issues({"kind": "text", "purpose": "marketing", "content": "x" * 3000}),
        *_template_issues({"kind": "text", "purpose": "marketing", "content": " ", "fallbacks": {"profile.x": ""}}),
        *_template_issues({"kind": "news", "purpose": "marketing", "articles": [{"title": "", "url": "http://a"}] * 2}),
        *_template_issues({"kind": "wechat_template", "purpose": "marketing", "template_id": "", "wechat_keys": [],
                           "data": {"k": "v"}}),
        *_template_issues({"kind": "mass_news", "purpose": "marketing", "articles": []}),
        *_template_issues({"kind": "text", "purpose": "marketing", "content": "hi",
                           "links": ["http://x", "https://a b"]}),
        *_template_issues({"kind": "text", "purpose": "often", "content": "hi", "extra": 1}),
        *_template_issues({"kind": "voice"}),
        *_template_issues({"kind": "image", "purpose": "marketing", "media_id": ""}),
    ]  # fmt: skip
    assert len(messages) > 20
    for message in messages:
        assert_chinese(message)
    with pytest.raises(RenderError) as caught:
        render_source("{{ 1 / 0 }}", {})
    assert_chinese(str(caught.value))
    assert inspect_source("{{ profile['x' ~ 'y'] }}").problems
    for problem in inspect_source("{{ profile[a] }} {{ step }}").problems:
        assert_chinese(problem.message)


def test_journey_findings_read_in_chinese() -> None:
    doc: dict[str, Any] = {
        "name": "j", "trigger": {"kind": "first_purchase"}, "goal": {"kind": "purchase"},
        "steps": [
            {"type": "send", "id": "a", "template": "nope", "next": "b", "expires_after": "0s",
             "store_link": "http://x", "coupon_pool": "gone"},
            {"type": "send", "id": "a", "template": "news", "next": "zz"},
            {"type": "wait", "id": "w", "duration": "0s"},
            {"type": "branch", "id": "br", "condition": {"kind": "clicked", "step": "w", "hours": 2},
             "then": "l1", "else": "l1"},
            {"type": "send", "id": "l1", "template": "coupon", "next": "l1"},
        ],
    }  # fmt: skip
    templates = {
        "news": TemplateInfo("news", "mass_news", "marketing"),
        "coupon": TemplateInfo("coupon", "text", "marketing", frozenset({"step.coupon_code", "step.store_link"})),
    }
    _definition, issues = validate_journey(doc, "journey j", templates=templates, pools={"p"})
    fixed = {**doc, "steps": [{**step, "next": None} if step.get("next") == "zz" else step for step in doc["steps"]]}
    _definition, more = validate_journey(fixed, "journey j", templates=templates, pools={"p"})
    broken: dict[str, Any] = {
        "name": "j", "trigger": {"kind": "no_purchase"},
        "steps": [{"type": "wait", "id": "w", "duration": "soon"}, {"type": "jump", "id": "x"},
                  {"type": "branch", "id": "b", "condition": {"kind": "tag", "hours": "many"}, "then": "w"}],
    }  # fmt: skip
    _definition, shape_issues = validate_journey(broken, "journey j")
    messages = [issue.message for issue in (*issues, *more, *shape_issues)]
    assert len(messages) > 12
    for message in messages:
        assert_chinese(message)


def test_menu_findings_read_in_chinese() -> None:
    menus: list[Any] = [
        {"button": []},
        {"button": [
            "x", {"name": "一个很长很长的名字超过", "type": "click", "key": "K"},
            {"name": "更多", "sub_button": [{"name": "a", "type": "view", "url": "ftp://x"},
                                          {"name": "b", "type": "click", "key": "K"},
                                          {"name": "c", "sub_button": [{"name": "d"}]},
                                          {"name": "e", "type": "tap"}]},
        ]},
        {"button": [{"name": ""}]},
        {"button": [{"name": "满", "sub_button": [{"name": f"{n}", "type": "click", "key": f"k{n}"}
                                                  for n in range(6)]}]},
    ]  # fmt: skip
    problems = []
    for menu in menus:
        with pytest.raises(MenuError) as caught:
            parse_menu(menu)
        problems += caught.value.problems
    assert len(problems) > 8
    shown = [assert_chinese(problem) for problem in problems]
    assert any(line.startswith("按钮 3.1（a）：") for line in shown), shown


# Labels the dashboard and the import report use.


def test_every_job_and_phone_hint_has_a_name() -> None:
    from base.phones import HINT_KINDS

    assert set(LABELS["job"]) == set(JOBS)
    assert set(LABELS["phone_hint"]) == set(HINT_KINDS)


# The scan: every reason and finding the engine writes as a literal or an f-string is known here.

# Where the engine writes texts a page shows: file -> {call name: the argument positions holding one}.
SOURCES: dict[str, dict[str, tuple[int, ...]]] = {
    "journeys/policy.py": {"Decision": (1,), "_later": (2,)},
    "content/send_rules.py": {"WindowVerdict": (3,)},
    "journeys/runner.py": {"_end": (2,)},
    "journeys/enrolment.py": {},
    "journeys/outcomes.py": {"SendResult": (1,)},
    "journeys/reactions.py": {"SendResult": (1,)},
    "journeys/dispatcher.py": {"SendResult": (1,)},
    "journeys/adapters.py": {"RenderFailed": (0,)},
    "storage/push_sweeps.py": {"Sweep": (3,)},
    "journeys/mass_send.py": {"_fail": (2,)},
    "journeys/mass_plans.py": {"MassSendError": (0,)},
    "orders/cells.py": {"CellError": (1,)},
    "orders/records.py": {"CellError": (1,)},
    "orders/sources.py": {"ImportInputError": (0,)},
    "orders/opening.py": {"ImportInputError": (0,)},
    "orders/qianniu.py": {"ImportInputError": (0,)},
    "content/validation.py": {"add": (1,)},
    "content/journey_checks.py": {"add": (1,)},
    "content/sandbox.py": {"SourceProblem": (0,), "RenderError": (0,)},
    "content/model.py": {"ValueError": (0,)},
    "content/templates.py": {"RenderError": (0,), "_https": (1,)},
    "content/links.py": {"append": (0,)},
    "content/menu.py": {"append": (0,), "MenuError": (0,)},
    "engagement/channels.py": {"ChannelError": (0,)},
}
# Names a text is kept in before it is stored or reported (`message = f"…"; found.add(at, message)`).
TEXT_NAMES = {"message", "alone"}
# Sample values for the parameters whose shape a phrase depends on; any other parameter is "7".
SAMPLES = {
    "where": "button 7", "who": "the branch", "label": "the sample profile", "counter.period": "month",
    "limit": "WeChat accepts at most 7 bytes",
}  # fmt: skip
# Texts of those places no page shows: logged, or a programming error.
NOT_SHOWN = {
    "fewer than two receivers",  # journeys.mass_send: caught and logged, the batch is marked failed
    "7: 7",  # journeys.reactions: f"{type(error).__name__}: {error}", WeChat's or the network's own words
}


def _sample(node: ast.expr) -> str | None:
    """The text a literal or f-string node produces with sample parameters; None for anything else."""
    if isinstance(node, ast.Subscript):  # f"…"[:200]
        return _sample(node.value)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                sample = SAMPLES.get(ast.unparse(value.value), "7")
                parts.append(repr(sample) if value.conversion == ord("r") else sample)
        return "".join(parts)
    return None


def _texts_of(node: ast.expr) -> list[str]:
    if isinstance(node, ast.List | ast.Tuple):
        return [text for element in node.elts for text in _texts_of(element)]
    sample = _sample(node)
    return [] if sample is None else [sample]


def engine_texts(path: str, calls: dict[str, tuple[int, ...]]) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse((ROOT / path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for position in calls.get(name, ()):
                if position < len(node.args):
                    found += _texts_of(node.args[position])
            found += [text for keyword in node.keywords if keyword.arg == "reason" for text in _texts_of(keyword.value)]
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "reason":
                    found += _texts_of(value)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                targets = target.elts if isinstance(target, ast.Tuple) else [target]
                values = node.value.elts if isinstance(node.value, ast.Tuple) and len(targets) > 1 else [node.value]
                for one, value in zip(targets, values, strict=False):
                    named = one.attr if isinstance(one, ast.Attribute) else getattr(one, "id", "")
                    if named in {"reason", "end_reason"} or (named in TEXT_NAMES and path.startswith("content/")):
                        found += _texts_of(value)
    return found


@pytest.mark.parametrize("path", sorted(SOURCES))
def test_every_text_the_engine_writes_there_reads_in_chinese(path: str) -> None:
    texts = [text for text in engine_texts(path, SOURCES[path]) if text not in NOT_SHOWN]
    assert texts, path
    untranslated = [text for text in texts if not CJK.search(zh(text))]
    assert untranslated == []


def test_the_scan_finds_the_texts_it_should() -> None:
    assert "no marketing consent" in engine_texts("journeys/policy.py", SOURCES["journeys/policy.py"])
    assert "gave up after 7 attempts: 7" in engine_texts("journeys/outcomes.py", {})
    assert "goal: 7" in engine_texts("journeys/enrolment.py", {})
    assert "template '7' has no published version" in engine_texts("journeys/runner.py", SOURCES["journeys/runner.py"])
    assert zh("an English sentence nobody wrote") == "an English sentence nobody wrote"
