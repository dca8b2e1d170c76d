"""Console users (admins): add one, change a role, disable or enable. Every change ends their sessions."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web

from base.i18n import N_, _
from console.access import admin_only
from console.audit import audit
from console.keys import SERVICES, VIEWER
from console.lookup import path_id
from console.passwords import PasswordPolicyError, check_password_policy, hash_password
from console.rendering import redirect, render_page
from storage.console import DEFAULT_ROLE, ROLES, UserExistsError, create_user, end_sessions_of_user, list_users
from storage.models.console import ConsoleUser

CHOOSE_ROLE = N_("Choose a role: admin or editor.")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{2,60}$")


async def _render(request: web.Request, *, errors: list[str], form: dict[str, str], status: int = 200) -> web.Response:
    async with request.app[SERVICES].db.session() as session:
        users = await list_users(session)
    return render_page(
        request,
        "users.html",
        status=status,
        users=users,
        roles=ROLES,
        default_role=DEFAULT_ROLE,
        errors=errors,
        form=form,
    )


@admin_only
async def user_list(request: web.Request) -> web.StreamResponse:
    return await _render(request, errors=[], form={})


@admin_only
async def user_add(request: web.Request) -> web.StreamResponse:
    posted = await request.post()
    form = {key: value for key, value in posted.items() if isinstance(value, str)}
    # No role chosen means the least privilege, never admin.
    name, role = form.get("name", "").strip(), form.get("role") or DEFAULT_ROLE
    password, repeat = form.get("password", ""), form.get("password_repeat", "")
    errors: list[str] = []
    if not _NAME.match(name):
        errors.append(_("User name must be 2-60 letters, digits, _ . @ or -."))
    if role not in ROLES:
        errors.append(_(CHOOSE_ROLE))
    try:
        check_password_policy(password)
    except PasswordPolicyError as error:
        errors.append(_("Password: %(problem)s.") % {"problem": error})
    if password != repeat:
        errors.append(_("The two passwords differ."))
    safe_form = {"name": name, "role": role}
    if errors:
        return await _render(request, errors=errors, form=safe_form, status=400)
    hashed = await asyncio.to_thread(hash_password, password)
    services = request.app[SERVICES]
    try:
        async with services.db.transaction() as session:
            await create_user(session, name=name, role=role, password_hash=hashed, now=services.clock.now())
            audit(request, session, "console.user_added", name, role=role)
    except UserExistsError:
        message = _("A console user named %(name)s already exists.") % {"name": name}
        return await _render(request, errors=[message], form=safe_form, status=400)
    raise redirect(request, "/users", "user_added")


@admin_only
async def user_update(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    viewer = request[VIEWER]
    posted = await request.post()
    role = str(posted.get("role", ""))
    disabled = posted.get("disabled") == "on"
    user_id = path_id(request, "user_id", N_("No such user."))
    if role not in ROLES:
        return await _render(request, errors=[_(CHOOSE_ROLE)], form={}, status=400)
    if user_id == viewer.user_id and (disabled or role != "admin"):
        return await _render(
            request, errors=[_("You cannot demote or disable yourself: ask another admin.")], form={}, status=400
        )
    async with services.db.transaction() as session:
        user = await session.get(ConsoleUser, user_id)
        if user is None:
            raise web.HTTPNotFound(text=_("No such user."))
        before = {"role": user.role, "disabled": user.disabled}
        user.role, user.disabled = role, disabled
        session.add(user)
        ended = 0
        if before != {"role": role, "disabled": disabled}:
            # A session must never keep a role its user no longer has.
            ended = await end_sessions_of_user(session, user_id, now=services.clock.now())
        audit(
            request, session, "console.user_updated", user.name,
            before=before, after={"role": role, "disabled": disabled}, sessions_ended=ended,
        )  # fmt: skip
    raise redirect(request, "/users", "user_updated")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/users", user_list)
    router.add_post("/users", user_add)
    router.add_post("/users/{user_id}", user_update)
