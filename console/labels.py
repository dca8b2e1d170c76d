"""Names the console shows for the codes the engine stores (a push's status, a role, a segment...).

The database keeps the codes (`sent`, `admin`, `at_risk`); the pages show `{{ code|label("push") }}`,
the code's name in the reader's language. A code with no name here is shown as stored, so a new code
added elsewhere still shows, only untranslated.
"""

from __future__ import annotations

from base.i18n import N_, _

LABELS: dict[str, dict[str, str]] = {
    "mass": {
        "scheduled": N_("scheduled"),
        "sending": N_("sending"),
        "sent": N_("sent"),
        "failed": N_("failed"),
        "cancelled": N_("cancelled"),
    },
    "push": {
        "pending": N_("pending"),
        "held": N_("held"),
        "claimed": N_("claimed"),
        "sending": N_("sending"),
        "sent": N_("sent"),
        "expired": N_("expired"),
        "skipped": N_("skipped"),
        "failed": N_("failed"),
        "cancelled": N_("cancelled"),
        "unknown": N_("unknown"),
    },
    "preview": {
        "delivered": N_("delivered"),
        "held": N_("held"),
        "expired": N_("expired"),
        "waiting": N_("waiting"),
        "branch": N_("branch"),
        "exit": N_("exit"),
        "goal": N_("goal reached"),
        "stopped": N_("preview ends"),
    },
    "channel": {"custom": N_("customer-service message"), "template": N_("template message")},
    "role": {"admin": N_("admin"), "editor": N_("editor")},
    "account_kind": {"service": N_("service account"), "subscription": N_("subscription account")},
    "template_kind": {
        "text": N_("text"),
        "news": N_("news"),
        "image": N_("image"),
        "wechat_template": N_("WeChat template message"),
        "mass_news": N_("mass-send article"),
    },
    "purpose": {"marketing": N_("marketing"), "service": N_("service")},
    "version": {"draft": N_("draft"), "published": N_("published"), "superseded": N_("superseded")},
    "import": {"running": N_("running"), "completed": N_("completed"), "failed": N_("failed")},
    "follower": {
        "subscribed": N_("following"),
        "unsubscribed": N_("unfollowed"),
        "blocked": N_("blocked"),
        "gone": N_("gone"),
    },
    "run": {
        "active": N_("active"),
        "completed": N_("completed"),
        "exited": N_("exited"),
        "ended": N_("ended"),
        "goal_reached": N_("goal reached"),
    },
    "step": {"send": N_("send"), "wait": N_("wait"), "branch": N_("branch"), "exit": N_("exit")},
    # The journey editor's choices: triggers, goals and re-entry rules.
    "journey": {
        "followed": N_("follows the account"),
        "followed_scene": N_("follows by a QR scene"),
        "phone_bound": N_("binds a phone number"),
        "first_purchase": N_("buys for the first time"),
        "repeat_purchase": N_("buys again"),
        "no_purchase": N_("has not bought for some days"),
        "segment_entered": N_("enters a segment"),
        "purchase": N_("buys"),
        "clicked": N_("clicks a link of this journey"),
        "never": N_("never"),
        "after_days": N_("after some days"),
        "always": N_("always"),
    },
    "condition": {
        "has_purchased": N_("has bought"),
        "segment": N_("segment"),
        "tag": N_("tag"),
        "channel": N_("channel"),
        "clicked": N_("clicked a link"),
    },
    "segment": {
        "prospect": N_("prospect"),
        "new": N_("new customer"),
        "active": N_("active"),
        "loyal": N_("loyal"),
        "champion": N_("champion"),
        "promising": N_("promising"),
        "needs_attention": N_("needs attention"),
        "at_risk": N_("at risk"),
        "lapsed": N_("lapsed"),
    },
    "consent": {"granted": N_("granted"), "refused": N_("refused")},
    # The scheduler's jobs (journeys.jobs.JOBS), on the dashboard's engine panel.
    "job": {
        "dispatch_tick": N_("send due pushes"),
        "process_domain_events": N_("process domain events"),
        "scan_no_purchase": N_("find followers who stopped buying"),
        "scan_segments": N_("recompute segments"),
        "refresh_tokens": N_("refresh access tokens"),
        "run_mass_sends": N_("run mass sends"),
        "nightly_aggregates": N_("nightly aggregates"),
        "purge_callbacks": N_("purge old callbacks"),
        "learn_unionids": N_("learn unionids"),
    },
    # Why an imported phone number is kept only as a hint (base.phones.HINT_KINDS).
    "phone_hint": {
        "masked": N_("masked number"),
        "virtual": N_("virtual number with extension"),
        "extension": N_("number with extension"),
        "ciphertext": N_("encrypted number"),
        "sci_notation": N_("number in scientific notation"),
        "landline": N_("landline or service number"),
        "invalid": N_("invalid number"),
    },
    "profile_sort": {
        "last_order": N_("last order"),
        "spend": N_("spend"),
        "orders": N_("orders"),
        "newest": N_("newest profile"),
    },
}


def label(code: object, group: str) -> str:
    """The name of `code` among `group`'s codes in the current language; the code itself when unnamed."""
    text = "" if code is None else str(code)
    name = LABELS.get(group, {}).get(text)
    return _(name) if name is not None else text


def label_filter(code: object, group: str) -> str:
    """`{{ push.status|label("push") }}`."""
    return label(code, group)
