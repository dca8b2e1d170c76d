"""Replies are values. A handler returns one (or None); the transport decides how it travels.

Each reply renders as a passive-reply XML body (inline, within the 5-second limit) and as a
customer-service API payload (when the answer is late, or for pushes), and round-trips through a JSON
document so a retried delivery can be answered with the very same reply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside CDATA; split it across two sections.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _envelope(to_user: str, from_user: str, create_time: int, msg_type: str, body: str) -> str:
    return (
        f"<xml><ToUserName>{_cdata(to_user)}</ToUserName><FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime><MsgType>{_cdata(msg_type)}</MsgType>{body}</xml>"
    )


@dataclass(frozen=True)
class Reply:
    kind: ClassVar[str] = ""

    def body_xml(self) -> str:
        raise NotImplementedError

    def api_payload(self, openid: str) -> dict[str, Any]:
        raise NotImplementedError

    def to_xml(self, to_user: str, from_user: str, create_time: int) -> str:
        return _envelope(to_user, from_user, create_time, self.kind, self.body_xml())

    def to_doc(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class TextReply(Reply):
    kind: ClassVar[str] = "text"
    content: str

    def body_xml(self) -> str:
        return f"<Content>{_cdata(self.content)}</Content>"

    def api_payload(self, openid: str) -> dict[str, Any]:
        return {"touser": openid, "msgtype": "text", "text": {"content": self.content}}


@dataclass(frozen=True)
class ImageReply(Reply):
    kind: ClassVar[str] = "image"
    media_id: str

    def body_xml(self) -> str:
        return f"<Image><MediaId>{_cdata(self.media_id)}</MediaId></Image>"

    def api_payload(self, openid: str) -> dict[str, Any]:
        return {"touser": openid, "msgtype": "image", "image": {"media_id": self.media_id}}


@dataclass(frozen=True)
class VoiceReply(Reply):
    kind: ClassVar[str] = "voice"
    media_id: str

    def body_xml(self) -> str:
        return f"<Voice><MediaId>{_cdata(self.media_id)}</MediaId></Voice>"

    def api_payload(self, openid: str) -> dict[str, Any]:
        return {"touser": openid, "msgtype": "voice", "voice": {"media_id": self.media_id}}


@dataclass(frozen=True)
class VideoReply(Reply):
    kind: ClassVar[str] = "video"
    media_id: str
    title: str = ""
    description: str = ""

    def body_xml(self) -> str:
        return (
            f"<Video><MediaId>{_cdata(self.media_id)}</MediaId><Title>{_cdata(self.title)}</Title>"
            f"<Description>{_cdata(self.description)}</Description></Video>"
        )

    def api_payload(self, openid: str) -> dict[str, Any]:
        video = {"media_id": self.media_id, "title": self.title, "description": self.description}
        return {"touser": openid, "msgtype": "video", "video": video}


@dataclass(frozen=True)
class MusicReply(Reply):
    kind: ClassVar[str] = "music"
    thumb_media_id: str
    title: str = ""
    description: str = ""
    music_url: str = ""
    hq_music_url: str = ""

    def body_xml(self) -> str:
        return (
            f"<Music><Title>{_cdata(self.title)}</Title><Description>{_cdata(self.description)}</Description>"
            f"<MusicUrl>{_cdata(self.music_url)}</MusicUrl><HQMusicUrl>{_cdata(self.hq_music_url)}</HQMusicUrl>"
            f"<ThumbMediaId>{_cdata(self.thumb_media_id)}</ThumbMediaId></Music>"
        )

    def api_payload(self, openid: str) -> dict[str, Any]:
        music = {
            "title": self.title,
            "description": self.description,
            "musicurl": self.music_url,
            "hqmusicurl": self.hq_music_url,
            "thumb_media_id": self.thumb_media_id,
        }
        return {"touser": openid, "msgtype": "music", "music": music}


@dataclass(frozen=True)
class Article:
    title: str
    description: str = ""
    url: str = ""
    picurl: str = ""


@dataclass(frozen=True)
class NewsReply(Reply):
    """News: one article when answering a message (WeChat's rule), up to 8 otherwise."""

    kind: ClassVar[str] = "news"
    articles: tuple[Article, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not 1 <= len(self.articles) <= 8:
            raise ValueError("a news reply holds 1 to 8 articles")

    def body_xml(self) -> str:
        items = "".join(
            f"<item><Title>{_cdata(a.title)}</Title><Description>{_cdata(a.description)}</Description>"
            f"<PicUrl>{_cdata(a.picurl)}</PicUrl><Url>{_cdata(a.url)}</Url></item>"
            for a in self.articles
        )
        return f"<ArticleCount>{len(self.articles)}</ArticleCount><Articles>{items}</Articles>"

    def api_payload(self, openid: str) -> dict[str, Any]:
        # The customer-service API sends one article per news message.
        first = self.articles[0]
        article = {
            "title": first.title,
            "description": first.description,
            "url": first.url,
            "picurl": first.picurl,
        }
        return {"touser": openid, "msgtype": "news", "news": {"articles": [article]}}

    def to_doc(self) -> dict[str, Any]:
        return {"kind": self.kind, "articles": [asdict(a) for a in self.articles]}


@dataclass(frozen=True)
class TransferCustomerService(Reply):
    """Hand the conversation to a human agent in WeChat's customer-service system."""

    kind: ClassVar[str] = "transfer_customer_service"

    def body_xml(self) -> str:
        return ""

    def api_payload(self, openid: str) -> dict[str, Any]:
        raise ValueError("a transfer to customer service can only be a passive reply")


_KINDS: dict[str, type[Reply]] = {
    cls.kind: cls for cls in (TextReply, ImageReply, VoiceReply, VideoReply, MusicReply, NewsReply)
}


def reply_from_doc(doc: dict[str, Any]) -> Reply:
    """Rebuild a reply stored with `Reply.to_doc`."""
    kind = doc.get("kind")
    if kind == NewsReply.kind:
        return NewsReply(articles=tuple(Article(**a) for a in doc.get("articles", [])))
    if kind == TransferCustomerService.kind:
        return TransferCustomerService()
    cls = _KINDS.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown reply kind {kind!r}")
    fields = {k: v for k, v in doc.items() if k != "kind"}
    return cls(**fields)


__all__ = [
    "Article",
    "ImageReply",
    "MusicReply",
    "NewsReply",
    "Reply",
    "TextReply",
    "TransferCustomerService",
    "VideoReply",
    "VoiceReply",
    "reply_from_doc",
]
