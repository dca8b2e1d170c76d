"""What the follower reads during binding and opt-out: one place, so wording is reviewed together."""

from __future__ import annotations

ASK_PHONE = "请回复你的11位手机号，我们将验证后为你绑定。随时回复「取消」可退出。"
ASK_PHONE_REBIND = "你当前绑定的手机号是 {masked}。如需更换，请回复新的11位手机号；回复「取消」退出。"
ALREADY_BOUND = "你已绑定 {masked}，无需重复绑定。"
HELD_BY_OTHER = "这个号码目前绑定在另一个微信上，验证通过后将改绑到当前微信。\n"

PHONE_MASKED = "号码中带有 * 号，请回复完整的11位手机号（或回复「取消」）。"
PHONE_VIRTUAL = "这是带分机号的虚拟号码，无法用于绑定。请回复你本人的11位手机号（或回复「取消」）。"
PHONE_LANDLINE = "这是固定电话或服务号码，只能绑定手机号。请回复你的11位手机号（或回复「取消」）。"
PHONE_INVALID = "这不是有效的手机号。请回复11位中国大陆手机号，例如 13800138000（或回复「取消」）。"

NO_PROOF_AVAILABLE = "抱歉，暂时无法验证这个号码（短信验证未开通，且没有找到该号码的订单）。请稍后再试。"
OR_SMS = "\n也可以回复「短信」改用短信验证码。"

CODE_SENT = "验证码已发送到 {masked}，5分钟内有效。请回复6位验证码；没收到可回复「重发」。"
CODE_WAIT = "验证码发送太频繁，请 {seconds} 秒后回复「重发」。"
CODE_DAILY_LIMIT = "今天的验证码次数已用完，请明天再试，或回复「取消」退出。"
CODE_SEND_FAILED = "验证码发送失败，请稍后回复「重发」再试。"
CODE_FORMAT = "请回复短信中的6位数字验证码；回复「重发」重新获取，回复「取消」退出。"
CODE_WRONG = "验证码不正确，还可以再试 {left} 次。"
CODE_EXHAUSTED = "验证码错误次数过多，已失效。请回复「重发」获取新的验证码。"
CODE_EXPIRED = "验证码已过期。请回复「重发」获取新的验证码。"

ORDER_WRONG = "回答不正确，还可以再试 {left} 次。"
ORDER_FAILED_TRY_SMS = "回答不正确，我们改用短信验证。\n"
ORDER_FAILED = "回答不正确，今天无法通过订单信息验证这个号码。"

PROVEN = "验证通过：{masked}。\n"
CONSENT_QUESTION = (
    "是否愿意接收我们的新品、优惠和活动消息？回复「是」同意，回复「否」不接收。之后可随时回复「TD」退订。"
)
CONSENT_REPEAT = "请回复「是」或「否」。\n"
BOUND = "绑定成功：{masked}。"
MOVED_FROM_OTHER = "该号码已从原来的微信改绑到当前微信。"
CONSENT_YES = "你将收到我们的优惠和活动消息，回复「TD」可随时退订。"
CONSENT_NO = "你只会收到订单和服务通知，不会收到营销消息。回复「订阅」可随时开启。"

CANCELLED = "已取消。需要时回复「绑定」重新开始。"
TIMED_OUT = "上一次绑定已超时（10分钟内未完成），请回复「绑定」重新开始。"
UNAVAILABLE = "抱歉，绑定功能暂时不可用，请稍后再试。"

OPTED_OUT = "已为你退订营销消息，你仍会收到订单和服务通知。回复「订阅」可重新订阅。"
SUBSCRIBE_QUESTION = (
    "订阅后你将收到我们的新品、优惠和活动消息，可随时回复「TD」退订。确认订阅请回复「是」，放弃请回复「否」。"
)
SUBSCRIBED = "订阅成功！回复「TD」可随时退订。"
SUBSCRIBE_DECLINED = "好的，未开启订阅。你仍会收到订单和服务通知。"
SUBSCRIBE_REPEAT = "请回复「是」确认订阅，或回复「否」放弃。"
ALREADY_SUBSCRIBED = "你已订阅我们的营销消息，回复「TD」可随时退订。"
