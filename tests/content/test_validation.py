"""Save-time checks of templates: each names the field and the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from content.issues import Issue
from content.loader import read_content_dir
from content.validation import validate_template_body


def _issues(doc: dict[str, Any]) -> list[Issue]:
    body, issues = validate_template_body(doc, "template t")
    assert body is None
    return issues


def _only(doc: dict[str, Any]) -> Issue:
    [issue] = _issues(doc)
    return issue


def test_syntax_errors_name_the_line_inside_the_text() -> None:
    issue = _only({"kind": "text", "content": "第一行\n{% if profile.order_count %}\n没有结束"})
    # Jinja names the line of the block left open.
    assert issue.field == "content" and issue.line == 2 and "template syntax" in issue.message
    bad_expression = _only({"kind": "text", "content": "一\n二\n{{ profile.name + }}"})
    assert bad_expression.line == 3


def test_an_unknown_field_is_an_error_at_save_time() -> None:
    issue = _only({"kind": "text", "content": "你好\n{{ profile.nickname }}"})
    assert (issue.field, issue.line) == ("content", 2)
    assert issue.message.startswith("unknown field profile.nickname")
    assert "unknown field user" in _only({"kind": "text", "content": "{{ user }}"}).message
    assert "not profile alone" in _only({"kind": "text", "content": "{{ profile }}"}).message


def test_a_field_that_can_be_missing_needs_a_fallback() -> None:
    issue = _only({"kind": "text", "content": "{{ profile.order_count }} {{ profile.name }}"})
    assert "profile.name can be missing at send time" in issue.message
    assert _only({"kind": "text", "content": "x", "fallbacks": {"profile.nick": "a"}}).field == "fallbacks.profile.nick"
    assert "plain text" in _only({"kind": "text", "content": "x", "fallbacks": {"profile.name": "{{ x }}"}}).message


def test_text_over_2048_bytes_is_refused() -> None:
    issue = _only({"kind": "text", "content": "好" * 683})  # 2049 bytes
    assert "2049 bytes" in issue.message and "at most 2048" in issue.message


def test_one_article_per_news_push() -> None:
    article = {"title": "t", "url": "https://a.cn/"}
    assert "exactly one article, got 2" in _only({"kind": "news", "articles": [article, article]}).message


def test_links_must_be_https_including_fallbacks() -> None:
    plain = _only({"kind": "news", "articles": [{"title": "t", "url": "http://a.cn/"}]})
    assert plain.field == "articles[0].url" and "https" in plain.message
    via_fallback = _only(
        {
            "kind": "news",
            "articles": [{"title": "t", "url": "{{ step.store_link }}"}],
            "fallbacks": {"step.store_link": "www.shop.cn"},
        }
    )
    assert "without a profile this renders 'www.shop.cn'" in via_fallback.message


def test_template_message_fields_must_match_the_templates_keys_and_be_service() -> None:
    issues = _issues(
        {
            "kind": "wechat_template",
            "purpose": "marketing",
            "template_id": "T",
            "wechat_keys": ["first", "keyword1"],
            "data": {"first": "a", "keyword9": "b"},
        }
    )
    messages = {issue.field: issue.message for issue in issues}
    assert "only service templates" in messages["purpose"]
    assert "expects keyword1" in messages["data"]
    assert "keyword9 is not a key" in messages["data.keyword9"]


@pytest.mark.parametrize("wording", ["关注有礼", "转发有奖", "分享领取", "集赞", "诱导分享", "关 注 有 礼"])
def test_wording_wechat_penalises_is_refused(wording: str) -> None:
    issue = _only({"kind": "text", "content": f"欢迎！\n本周{wording}，快来"})
    assert issue.line == 2 and "wording WeChat penalises" in issue.message


def test_mass_news_allows_no_personal_fields() -> None:
    issue = _only(
        {"kind": "mass_news", "articles": [{"title": "{{ profile.name }}", "thumb_media_id": "T", "content": "c"}]}
    )
    assert "personal field profile.name is not allowed" in issue.message


def test_shape_errors_name_the_field() -> None:
    assert _only({"kind": "text"}).field == "content"
    assert _only({"kind": "sms", "content": "x"}).field == "kind"
    typo = _only({"kind": "news", "articles": [{"title": "t", "url": "https://a.cn/", "descripton": "x"}]})
    assert typo.field == "articles[0].descripton" and "not a known key" in typo.message


def test_issues_in_yaml_files_name_the_file_line(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.yaml").write_text(
        "name: hello\nkind: text\ncontent: |\n  第一行\n  {{ profile.nickname }}\nfallbacks:\n  profile.name: 朋友\n",
        encoding="utf-8",
    )
    bundle = read_content_dir(tmp_path)
    [issue] = bundle.issues
    assert str(issue).startswith(f"{tmp_path.name}/templates/t.yaml:5: content: unknown field profile.nickname")
