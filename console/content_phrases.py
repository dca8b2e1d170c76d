"""What the content checks say about a template, a journey or a menu, as messages (see console.engine_text).

content/ is pure and writes its findings in English (the CLI and CI read them); the console's editors
show each finding's message through these tables. The field a finding names (`articles[0].url`,
`steps[2].template`) stays as written: it is the key the editor types.
"""

from __future__ import annotations

from base.i18n import N_
from console.phrasebook import Shape, labelled, listed, nested, shape

CONTENT_EXACT: dict[str, str] = {
    # content.issues: pydantic's findings made friendly.
    "is required": N_("is required"),
    "is not a known key (a typo?)": N_("is not a known key (a typo?)"),
    # content.validation: template bodies.
    "a fallback is plain text, without {{ }} fields": N_("a fallback is plain text, without {{ }} fields"),
    "a fallback must not be empty: it is shown instead of the field": N_(
        "a fallback must not be empty: it is shown instead of the field"
    ),
    "the text is empty": N_("the text is empty"),
    "the article needs a title": N_("the article needs a title"),
    "the article needs a link to open": N_("the article needs a link to open"),
    "the image needs the media id of an uploaded picture": N_("the image needs the media id of an uploaded picture"),
    "the article body is empty": N_("the article body is empty"),
    "the cover picture's media id is required": N_("the cover picture's media id is required"),
    "only service templates may go out as WeChat template messages (WeChat forbids marketing in them)": N_(
        "only service templates may go out as WeChat template messages (WeChat forbids marketing in them)"
    ),
    "the WeChat template id is required": N_("the WeChat template id is required"),
    "list the keys of the WeChat template (first, keyword1, ..., remark)": N_(
        "list the keys of the WeChat template (first, keyword1, ..., remark)"
    ),
    "a key is listed twice": N_("a key is listed twice"),
    # Who a body is rendered for when its links and size are checked.
    "the sample profile": N_("the sample profile"),
    "a follower without a profile": N_("a follower without a profile"),
    # content.templates: the links a rendered body must keep https.
    "the article link": N_("the article link"),
    "the picture link": N_("the picture link"),
    "the template message link": N_("the template message link"),
    "the article source link": N_("the article source link"),
    # content.links: declared links.
    "at most 255 links per template": N_("at most 255 links per template"),
    "a declared link is a fixed address, without {{ }} fields": N_(
        "a declared link is a fixed address, without {{ }} fields"
    ),
    "this link is declared twice": N_("this link is declared twice"),
    # content.journey_checks and content.model: journeys.
    "a wait must last longer than zero": N_("a wait must last longer than zero"),
    "the expiry must be longer than zero": N_("the expiry must be longer than zero"),
    "the goal (a purchase) is reached by the trigger itself: the journey would end at once": N_(
        "the goal (a purchase) is reached by the trigger itself: the journey would end at once"
    ),
    "the branch": N_("the branch"),
    "the goal": N_("the goal"),
    "none": N_("none"),
    "a duration looks like 3d, 12h, 30m or 1d12h": N_("a duration looks like 3d, 12h, 30m or 1d12h"),
    "trigger followed_scene needs `scene` (the QR scene)": N_("trigger followed_scene needs `scene` (the QR scene)"),
    "trigger no_purchase needs `days`": N_("trigger no_purchase needs `days`"),
    "trigger segment_entered needs `segment`": N_("trigger segment_entered needs `segment`"),
    "condition clicked needs `step` (the send step whose links count)": N_(
        "condition clicked needs `step` (the send step whose links count)"
    ),
    "condition clicked needs `hours` (how long after that step's delivery)": N_(
        "condition clicked needs `hours` (how long after that step's delivery)"
    ),
    "condition clicked takes `step` and `hours`, not `values`": N_(
        "condition clicked takes `step` and `hours`, not `values`"
    ),
    "a wait step needs exactly one of `duration` or `until`": N_(
        "a wait step needs exactly one of `duration` or `until`"
    ),
    "goal segment_entered needs `segment`": N_("goal segment_entered needs `segment`"),
    "re-entry after_days needs `days`": N_("re-entry after_days needs `days`"),
    # content.menu.
    "a menu has 1-3 top-level buttons under `button`": N_("a menu has 1-3 top-level buttons under `button`"),
    "a button is a mapping with a name": N_("a button is a mapping with a name"),
    "a button needs a name": N_("a button needs a name"),
    "sub buttons cannot have sub buttons": N_("sub buttons cannot have sub buttons"),
    "at most 5 sub buttons": N_("at most 5 sub buttons"),
    "type must be click or view, or give it sub buttons": N_("type must be click or view, or give it sub buttons"),
    # pydantic's own words for the commonest mistakes in a typed body or journey.
    "Input should be a valid string": N_("should be text"),
    "Input should be a valid integer": N_("should be a whole number"),
    "Input should be a valid integer, unable to parse string as an integer": N_("should be a whole number"),
    "Input should be a valid integer, got a number with a fractional part": N_("should be a whole number"),
    "Input should be a valid list": N_("should be a list"),
    "Input should be a valid tuple": N_("should be a list"),
    "Input should be a valid dictionary": N_("should be a mapping of keys and values"),
    "Input should be a valid dictionary or instance of Step": N_("should be a mapping of keys and values"),
    "Input should be a valid boolean": N_("should be true or false"),
}

_STEP_TYPE = labelled("step")

CONTENT_SHAPES: tuple[Shape, ...] = (
    # content.issues: a tagged union's key.
    shape(r"must be one of (?P<choices>.+)", N_("must be one of %(choices)s"), choices=listed),
    # content.validation and content.sandbox: template texts.
    shape(
        r"wording WeChat penalises: (?P<phrase>.+) \(rewards for following or sharing\)",
        N_("wording WeChat penalises: %(phrase)s (rewards for following or sharing)"),
    ),
    shape(r"wording WeChat penalises: (?P<phrase>.+)", N_("wording WeChat penalises: %(phrase)s")),
    shape(
        r"mass-send news goes to everyone alike: personal field (?P<field>\S+) is not allowed",
        N_("mass-send news goes to everyone alike: personal field %(field)s is not allowed"),
    ),
    shape(r"unknown field (?P<field>\S+) \(known: (?P<known>.+)\)", N_("unknown field %(field)s (known: %(known)s)")),
    shape(
        r"(?P<field>\S+) can be missing at send time: declare its text under fallbacks",
        N_("%(field)s can be missing at send time: declare its text under fallbacks"),
    ),
    shape(
        r"a news push carries exactly one article, got (?P<count>\d+)",
        N_("a news push carries exactly one article, got %(count)s"),
    ),
    shape(
        r"a mass-send news holds 1 to (?P<most>\d+) articles, got (?P<count>\d+)",
        N_("a mass-send news holds 1 to %(most)s articles, got %(count)s"),
    ),
    shape(
        r"a title of 1 to (?P<most>\d+) characters is required", N_("a title of 1 to %(most)s characters is required")
    ),
    shape(
        r"the WeChat template expects (?P<keys>.+): add them under data",
        N_("the WeChat template expects %(keys)s: add them under data"),
    ),
    shape(
        r"(?P<key>\S+) is not a key of the WeChat template \((?P<keys>.*)\)",
        N_("%(key)s is not a key of the WeChat template (%(keys)s)"),
    ),
    shape(
        r"links must be https; with (?P<who>.+?) this renders (?P<link>.*)",
        N_("links must be https; with %(who)s this renders %(link)s"),
        who=nested,
    ),
    shape(
        r"renders to (?P<size>\d+) bytes with (?P<who>.+?); WeChat accepts at most (?P<most>\d+) bytes",
        N_("renders to %(size)s bytes with %(who)s; WeChat accepts at most %(most)s bytes"),
        who=nested,
    ),
    shape(
        r"the text renders to (?P<size>\d+) bytes; WeChat accepts at most (?P<most>\d+)",
        N_("the text renders to %(size)s bytes; WeChat accepts at most %(most)s"),
    ),
    shape(
        r"(?P<where>.+) must be an https link, got (?P<value>.*)",
        N_("%(where)s must be an https link, got %(value)s"),
        where=nested,
    ),
    # Jinja's own description of a syntax error is kept as Jinja wrote it.
    shape(r"template syntax: (?P<error>.+)", N_("template syntax: %(error)s")),
    shape(r"template syntax \(line (?P<line>\d+)\): (?P<error>.+)", N_("template syntax (line %(line)s): %(error)s")),
    shape(r"cannot render: (?P<error>.+)", N_("cannot render: %(error)s")),
    shape(
        r"(?P<namespace>\w+)\[\.\.\.\] must name a field, e.g. (?P<example>\S+)",
        N_("%(namespace)s[...] must name a field, e.g. %(example)s"),
    ),
    shape(
        r"use a field such as (?P<namespace>\w+)\.<name>, not (?P=namespace) alone",
        N_("use a field such as %(namespace)s.<name>, not %(namespace)s alone"),
    ),
    # content.links.
    shape(
        r"a declared link is an https address, got (?P<link>.*)",
        N_("a declared link is an https address, got %(link)s"),
    ),
    shape(
        r"a declared link has no spaces, quotes or trailing punctuation: (?P<link>.*)",
        N_("a declared link has no spaces, quotes or trailing punctuation: %(link)s"),
    ),
    # content.journey_checks.
    shape(r"step id (?P<step>.+) is used twice", N_("step id %(step)s is used twice")),
    shape(
        r"(?P<who>the branch|the goal) waits for a click on step (?P<step>.+), which does not exist "
        r"\(send steps: (?P<sends>.*)\)",
        N_("%(who)s waits for a click on step %(step)s, which does not exist (send steps: %(sends)s)"),
        who=nested,
        sends=nested,
    ),
    shape(
        r"(?P<who>the branch|the goal) waits for a click on (?P<type>\w+) step (?P<step>.+): "
        r"only send steps have links",
        N_("%(who)s waits for a click on %(type)s step %(step)s: only send steps have links"),
        who=nested,
        type=_STEP_TYPE,
    ),
    shape(r"goes to step (?P<step>.+), which does not exist", N_("goes to step %(step)s, which does not exist")),
    shape(r"step (?P<step>.+) can never be reached", N_("step %(step)s can never be reached")),
    shape(r"the loop (?P<loop>.+) has no wait step", N_("the loop %(loop)s has no wait step")),
    shape(r"links must be https, got (?P<link>.*)", N_("links must be https, got %(link)s")),
    shape(r"unknown coupon pool (?P<pool>.+)", N_("unknown coupon pool %(pool)s")),
    shape(r"unknown template (?P<template>.+)", N_("unknown template %(template)s")),
    shape(
        r"(?P<template>\S+) is a mass-send news: it goes out by mass send, not per follower",
        N_("%(template)s is a mass-send news: it goes out by mass send, not per follower"),
    ),
    shape(
        r"template (?P<template>\S+) shows step\.coupon_code: name the coupon_pool to draw from",
        N_("template %(template)s shows step.coupon_code: name the coupon_pool to draw from"),
    ),
    shape(
        r"template (?P<template>\S+) shows step\.store_link: give the store_link",
        N_("template %(template)s shows step.store_link: give the store_link"),
    ),
    # content.model: values pydantic was given.
    shape(
        r"a duration looks like 3d, 12h, 30m or 1d12h, got (?P<value>.+)",
        N_("a duration looks like 3d, 12h, 30m or 1d12h, got %(value)s"),
    ),
    shape(
        r"a time of day looks like 10:00 \(China time\), got (?P<value>.+)",
        N_("a time of day looks like 10:00 (China time), got %(value)s"),
    ),
    shape(r"a whole number of hours, got (?P<value>.+)", N_("a whole number of hours, got %(value)s")),
    shape(r"must be 1 to (?P<most>\d+) hours, got (?P<value>.+)", N_("must be 1 to %(most)s hours, got %(value)s")),
    shape(
        r"condition (?P<kind>\w+) takes no `step` or `hours` \(only clicked does\)",
        N_("condition %(kind)s takes no `step` or `hours` (only clicked does)"),
    ),
    shape(
        r"condition (?P<kind>\w+) needs `values` \(one or more\)", N_("condition %(kind)s needs `values` (one or more)")
    ),
    shape(
        r"goal (?P<kind>\w+) takes no `step` or `link` \(only clicked does\)",
        N_("goal %(kind)s takes no `step` or `link` (only clicked does)"),
    ),
    shape(
        r"goal clicked: `link` is the link's https target, got (?P<value>.+)",
        N_("goal clicked: `link` is the link's https target, got %(value)s"),
    ),
    # content.menu: each problem names its button ("button 2.1 (官网): …").
    shape(
        r"button (?P<number>\d+(?:\.\d+)*) \((?P<name>.*?)\): (?P<problem>.+)",
        N_("button %(number)s (%(name)s): %(problem)s"),
        problem=nested,
    ),
    shape(r"button (?P<number>\d+(?:\.\d+)*): (?P<problem>.+)", N_("button %(number)s: %(problem)s"), problem=nested),
    shape(
        r"the name is (?P<size>\d+) bytes, at most (?P<most>\d+)", N_("the name is %(size)s bytes, at most %(most)s")
    ),
    shape(r"a click button needs a key of 1-(?P<most>\d+) bytes", N_("a click button needs a key of 1-%(most)s bytes")),
    shape(
        r"a view button needs an http\(s\) URL of at most (?P<most>\d+) bytes",
        N_("a view button needs an http(s) URL of at most %(most)s bytes"),
    ),
    shape(r"key (?P<key>.+) is used by more than one button", N_("key %(key)s is used by more than one button")),
    # pydantic, with a parameter.
    shape(
        r"Input should be (?P<choices>'[^']*'(?:, '[^']*')*(?: or '[^']*')?)",
        N_("should be one of %(choices)s"),
        choices=listed,
    ),
    shape(r"String should have at most (?P<most>\d+) characters?", N_("should have at most %(most)s characters")),
    shape(r"String should have at least (?P<least>\d+) characters?", N_("should have at least %(least)s characters")),
    shape(
        r"List should have at least (?P<least>\d+) items? after validation, not (?P<count>\d+)",
        N_("should have at least %(least)s items, not %(count)s"),
    ),
    shape(
        r"List should have at most (?P<most>\d+) items? after validation, not (?P<count>\d+)",
        N_("should have at most %(most)s items, not %(count)s"),
    ),
)
