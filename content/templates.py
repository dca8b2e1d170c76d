"""Template bodies of each kind WeChat delivers, and rendering them into replies and API payloads.

A body is the JSON document stored in `template_versions.body` (and written in templates/*.yaml):

    kind: text | news | image | wechat_template | mass_news
    purpose: marketing | service
    fallbacks: {"profile.name": "朋友"}       # text used when a field is missing at send time
    links: [https://...]                      # targets sent as tracked links (content.links)
    ...the fields of the kind (content / articles / media_id / template_id, data...)

Text fields are Jinja2 templates rendered in the sandbox (content.sandbox); ids are plain text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter

from content.fields import RenderContext, with_fallbacks
from content.sandbox import RenderError, inspect_source, render_source
from wechat.replies import Article, ImageReply, NewsReply, Reply, TextReply

# Template kinds WeChat delivers (the body of each is below).
TEMPLATE_KINDS = ("text", "news", "image", "wechat_template", "mass_news")

# WeChat refuses a customer-service (and passive) text message longer than 2048 bytes of UTF-8:
# about 680 Chinese characters. Checked at save time against the sample profile and again at render.
TEXT_MAX_BYTES = 2048
# One article per news push: the customer-service API sends only the first, and a passive reply to a
# message may carry only one.
NEWS_MAX_ARTICLES = 1
# A mass-send news message holds 1 to 8 articles; WeChat cuts titles after 64 characters.
MASS_MAX_ARTICLES = 8
MASS_TITLE_MAX_CHARS = 64

Kind = Literal["text", "news", "image", "wechat_template", "mass_news"]
Purpose = Literal["marketing", "service"]


class _Part(BaseModel):
    # Unknown keys are errors: a misspelt `descripton` must not vanish silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Body(_Part):
    purpose: Purpose = "marketing"
    fallbacks: dict[str, str] = Field(default_factory=dict)
    # The only targets a tracked link (/l/<token>) can lead to; other links go out untracked.
    links: list[str] = Field(default_factory=list)


class TextBody(_Body):
    kind: Literal["text"]
    content: str


class NewsArticle(_Part):
    title: str
    description: str = ""
    url: str = ""
    picurl: str = ""


class NewsBody(_Body):
    kind: Literal["news"]
    articles: list[NewsArticle]


class ImageBody(_Body):
    kind: Literal["image"]
    media_id: str


def _field_value(value: Any) -> Any:
    return {"value": value} if isinstance(value, str) else value


class TemplateField(_Part):
    value: str
    color: str | None = None


class WechatTemplateBody(_Body):
    """A WeChat template message (service notices only): `wechat_keys` are the keys of the template."""

    kind: Literal["wechat_template"]
    template_id: str
    url: str = ""
    wechat_keys: list[str]
    data: dict[str, Annotated[TemplateField, BeforeValidator(_field_value)]]


class MassArticle(_Part):
    title: str
    thumb_media_id: str
    content: str
    author: str = ""
    digest: str = ""
    content_source_url: str = ""
    show_cover_pic: bool = False


class MassNewsBody(_Body):
    """Mass-send news (群发): the same articles for every receiver, so no personal fields."""

    kind: Literal["mass_news"]
    articles: list[MassArticle]


TemplateBody = TextBody | NewsBody | ImageBody | WechatTemplateBody | MassNewsBody
_BODY: TypeAdapter[TemplateBody] = TypeAdapter(Annotated[TemplateBody, Field(discriminator="kind")])


def parse_body(doc: dict[str, Any]) -> TemplateBody:
    """Read a body document (raises pydantic.ValidationError; content.validation explains it)."""
    return _BODY.validate_python(doc)


def body_doc(body: TemplateBody) -> dict[str, Any]:
    """The canonical JSON document of a body (every field spelt out, so equal bodies hash equally)."""
    return body.model_dump(mode="json")


def content_hash(doc: dict[str, Any]) -> str:
    canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def template_texts(body: TemplateBody) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every text of a body that is a template (rendered with fields), with its path in the document."""
    if isinstance(body, TextBody):
        yield ("content",), body.content
    elif isinstance(body, NewsBody):
        for index, article in enumerate(body.articles):
            for name in ("title", "description", "url", "picurl"):
                yield ("articles", index, name), getattr(article, name)
    elif isinstance(body, WechatTemplateBody):
        yield ("url",), body.url
        for key, item in body.data.items():
            yield ("data", key, "value"), item.value
    elif isinstance(body, MassNewsBody):
        for index, mass in enumerate(body.articles):
            for name in ("title", "author", "digest", "content", "content_source_url"):
                yield ("articles", index, name), getattr(mass, name)


def url_paths(body: TemplateBody) -> list[tuple[str | int, ...]]:
    """The paths of texts that must render to https links."""
    if isinstance(body, NewsBody):
        return [("articles", i, name) for i in range(len(body.articles)) for name in ("url", "picurl")]
    if isinstance(body, WechatTemplateBody):
        return [("url",)]
    if isinstance(body, MassNewsBody):
        return [("articles", i, "content_source_url") for i in range(len(body.articles))]
    return []


@dataclass(frozen=True)
class RenderedMessage:
    """A rendered template: a reply value (text, news, image) or an API payload (template / mass send)."""

    kind: str
    purpose: str
    reply: Reply | None = None
    # wechat_template: {"template_id", "url", "data"}; mass_news: {"articles": [...]} (uploadnews format).
    payload: dict[str, Any] | None = None

    def template_message(self, openid: str) -> dict[str, Any]:
        """The body of POST /cgi-bin/message/template/send."""
        if self.kind != "wechat_template" or self.payload is None:
            raise ValueError(f"a {self.kind} template is not a WeChat template message")
        if self.purpose != "service":
            raise ValueError("only service templates may go out as WeChat template messages")
        return {"touser": openid, **self.payload}

    def customer_service(self, openid: str) -> dict[str, Any]:
        """The body of POST /cgi-bin/message/custom/send."""
        if self.reply is None:
            raise ValueError(f"a {self.kind} template cannot be sent as a customer-service message")
        return self.reply.api_payload(openid)

    def mass_send(
        self, media_id: str, *, tag_id: int | None = None, openids: list[str] | None = None, clientmsgid: str = ""
    ) -> dict[str, Any]:
        """The body of a mass send by tag (sendall) or openid list (send), once the news was uploaded."""
        if self.kind != "mass_news":
            raise ValueError(f"a {self.kind} template is not a mass-send news")
        document: dict[str, Any] = {"mpnews": {"media_id": media_id}, "msgtype": "mpnews", "send_ignore_reprint": 0}
        if openids is not None:
            document["touser"] = openids
        else:
            document["filter"] = {"is_to_all": tag_id is None, "tag_id": tag_id}
        if clientmsgid:
            document["clientmsgid"] = clientmsgid
        return document

    def preview_text(self) -> str:
        """A one-glance text of the message, for timelines and the console."""
        if isinstance(self.reply, TextReply):
            return self.reply.content
        if isinstance(self.reply, NewsReply):
            first = self.reply.articles[0]
            return f"[图文] {first.title} {first.url}".strip()
        if isinstance(self.reply, ImageReply):
            return f"[图片] {self.reply.media_id}"
        if self.kind == "wechat_template" and self.payload:
            values = " / ".join(str(item["value"]) for item in self.payload["data"].values())
            return f"[模板消息] {values}"
        if self.kind == "mass_news" and self.payload:
            return "[群发图文] " + " | ".join(a["title"] for a in self.payload["articles"])
        return f"[{self.kind}]"


def _https(value: str, where: str) -> str:
    if value and not value.startswith("https://"):
        raise RenderError(f"{where} must be an https link, got {value[:60]!r}")
    return value


def render_body(body: TemplateBody, context: RenderContext) -> RenderedMessage:
    """Render a body with a follower's context; missing values take the template's fallbacks."""
    ctx = with_fallbacks(context, body.fallbacks)

    def text(source: str) -> str:
        return render_source(source, ctx)

    if isinstance(body, TextBody):
        content = text(body.content)
        size = len(content.encode("utf-8"))
        if size > TEXT_MAX_BYTES:
            raise RenderError(f"the text renders to {size} bytes; WeChat accepts at most {TEXT_MAX_BYTES}")
        return RenderedMessage(body.kind, body.purpose, reply=TextReply(content))
    if isinstance(body, NewsBody):
        articles = tuple(
            Article(
                title=text(a.title),
                description=text(a.description),
                url=_https(text(a.url), "the article link"),
                picurl=_https(text(a.picurl), "the picture link"),
            )
            for a in body.articles
        )
        return RenderedMessage(body.kind, body.purpose, reply=NewsReply(articles=articles))
    if isinstance(body, ImageBody):
        return RenderedMessage(body.kind, body.purpose, reply=ImageReply(body.media_id))
    if isinstance(body, WechatTemplateBody):
        data: dict[str, dict[str, str]] = {}
        for key, item in body.data.items():
            data[key] = {"value": text(item.value)}
            if item.color:
                data[key]["color"] = item.color
        payload: dict[str, Any] = {"template_id": body.template_id, "data": data}
        if body.url:
            payload["url"] = _https(text(body.url), "the template message link")
        return RenderedMessage(body.kind, body.purpose, payload=payload)
    mass = [
        {
            "title": text(a.title),
            "thumb_media_id": a.thumb_media_id,
            "author": text(a.author),
            "digest": text(a.digest),
            "show_cover_pic": int(a.show_cover_pic),
            "content": text(a.content),
            "content_source_url": _https(text(a.content_source_url), "the article source link"),
        }
        for a in body.articles
    ]
    return RenderedMessage(body.kind, body.purpose, payload={"articles": mass})


def fields_used(body: TemplateBody) -> frozenset[str]:
    """Every personal field a body shows."""
    used: set[str] = set()
    for _path, source in template_texts(body):
        used |= inspect_source(source).field_paths
    return frozenset(used)
