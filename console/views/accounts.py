"""Official accounts (admins): their settings, and a connection test through the WeChat client."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from base.i18n import N_, _
from console.access import admin_only
from console.audit import audit
from console.formatting import china_time_of_iso
from console.keys import LOCALE, SERVICES
from console.lookup import get_or_404
from console.rendering import redirect, render_page
from storage.accounts import account_by_appid, accounts_by_appid, default_accounts
from storage.models.core import Account

_APPID = re.compile(r"^wx[0-9a-zA-Z]{16}$")
_TOKEN = re.compile(r"^[A-Za-z0-9]{3,32}$")
_AES_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")
KINDS = ("service", "subscription")


def validate_account_form(form: dict[str, str], *, existing: Account | None) -> tuple[dict[str, Any], list[str]]:
    """The clean values of an account form and the problems found (empty when it may be saved)."""
    errors: list[str] = []
    appid = form.get("appid", "").strip()
    if not _APPID.match(appid):
        errors.append(_("AppID must look like wx followed by 16 letters or digits."))
    token = form.get("token", "").strip()
    if not _TOKEN.match(token):
        errors.append(_("Token must be 3-32 letters or digits, exactly as in the WeChat console."))
    aes_key = form.get("aes_key", "").strip()
    if aes_key and not _AES_KEY.match(aes_key):
        errors.append(_("EncodingAESKey must be the 43-character key from the WeChat console (or empty)."))
    kind = form.get("kind", "service")
    if kind not in KINDS:
        errors.append(_("Kind must be a service account or a subscription account."))
    name = form.get("name", "").strip()
    if len(name) > 100:
        errors.append(_("Name must be at most 100 characters."))
    values: dict[str, Any] = {
        "appid": appid,
        "name": name,
        "token": token,
        "aes_key": aes_key,
        "kind": kind,
        "is_default": form.get("is_default") == "on",
    }
    # The secret is write-only: an empty field keeps the stored one.
    secret = form.get("appsecret", "").strip()
    if secret:
        if len(secret) > 64:
            errors.append(_("AppSecret must be at most 64 characters."))
        values["appsecret"] = secret
    elif existing is None:
        values["appsecret"] = ""
    return values, errors


@admin_only
async def account_list(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        accounts = await accounts_by_appid(session)
    settings = request.app[SERVICES].settings
    return render_page(
        request,
        "accounts.html",
        accounts=accounts,
        env_appid=settings.wechat_appid,
        can_test=request.app[SERVICES].wechat_api is not None,
        result=None,
    )


async def _form_values(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {key: value for key, value in form.items() if isinstance(value, str)}


@admin_only
async def account_form(request: web.Request) -> web.StreamResponse:
    account = await _load(request) if "account_id" in request.match_info else None
    return render_page(request, "account_form.html", account=account, form=None, errors=[], kinds=KINDS)


@admin_only
async def account_save(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    existing = await _load(request) if "account_id" in request.match_info else None
    form = await _form_values(request)
    values, errors = validate_account_form(form, existing=existing)
    async with services.db.transaction() as session:
        clash = await account_by_appid(session, values["appid"])
        if clash is not None and (existing is None or clash.id != existing.id):
            errors.append(_("Another account already uses AppID %(appid)s.") % {"appid": values["appid"]})
        if errors:
            return render_page(
                request, "account_form.html", status=400, account=existing, form=form, errors=errors, kinds=KINDS
            )
        account = await session.get(Account, existing.id) if existing is not None else None
        if account is None:
            account = Account(created_at=services.clock.now(), **values)
        else:
            for key, value in values.items():
                setattr(account, key, value)
        if account.is_default:
            for other in await default_accounts(session):
                if other.id != account.id:
                    other.is_default = False
                    session.add(other)
        session.add(account)
        changed = sorted(key for key in values if key != "appsecret") + (["appsecret"] if "appsecret" in values else [])
        audit(request, session, "console.account_saved", values["appid"], fields=changed)
    raise redirect(request, "/accounts", "saved")


@admin_only
async def account_test(request: web.Request) -> web.StreamResponse:
    account = await _load(request)
    client = request.app[SERVICES].wechat_api
    result: dict[str, Any]
    if client is None:
        result = {"ok": False, "message": _("No WeChat API client is configured in this process.")}
    else:
        try:
            answer = await client.check_connection(account.appid)
            result = {
                "ok": bool(answer.get("token_ok", True)),
                "message": _("Connected."),
                "answer": answer,
                "valid_until": china_time_of_iso(answer.get("token_valid_until"), request[LOCALE]),
            }
        except Exception as error:  # noqa: BLE001 - every failure is the answer the admin asked for
            result = {"ok": False, "message": f"{type(error).__name__}: {error}"}
    async with request.app[SERVICES].db.transaction() as session:
        audit(
            request, session, "console.account_tested", account.appid, ok=result["ok"], message=result["message"][:200]
        )
        accounts = await accounts_by_appid(session)
    return render_page(
        request,
        "accounts.html",
        accounts=accounts,
        env_appid=request.app[SERVICES].settings.wechat_appid,
        can_test=client is not None,
        result={"appid": account.appid, **result},
    )


async def _load(request: web.Request) -> Account:
    async with request.app[SERVICES].db.session() as session:
        return await get_or_404(session, Account, request, "account_id", N_("No such account."))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/accounts", account_list)
    router.add_get("/accounts/new", account_form)
    router.add_post("/accounts/new", account_save)
    router.add_get("/accounts/{account_id}", account_form)
    router.add_post("/accounts/{account_id}", account_save)
    router.add_post("/accounts/{account_id}/test", account_test)
