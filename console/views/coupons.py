"""Coupon pools: their stock, a new pool, and codes loaded from pasted text or a text/CSV file.

An upload is reported line by line: blank lines and codes repeated within the list are counted and
listed, codes the pool already had are counted, and a list with a malformed code loads nothing (a
voucher list with a typo is better fixed and sent again than half loaded). Files are streamed to disk
and read in a worker thread, so a list of a million codes never stalls the other pages.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from base.i18n import N_, _
from console.access import streams_multipart
from console.audit import audit
from console.keys import SERVICES
from console.lookup import get_or_404
from console.rendering import redirect, render_page
from console.uploads import UploadError, discard, receive_upload
from publishing.coupons import (
    CodeList,
    CouponError,
    add_code_list,
    create_pool,
    pool_statuses,
    read_code_file,
    read_code_list,
)
from storage.models.content import CouponPool

MAX_CODES_BYTES = 20 * 1024 * 1024
# Lines of each kind listed in a report; the counts are always complete.
LISTED = 20
_NO_POOL = N_("No such coupon pool.")


@dataclass(frozen=True)
class LoadReport:
    pool: str
    file_name: str
    added: int
    already: int
    header: bool
    blank_lines: list[int]
    duplicates: list[tuple[int, str]]
    invalid: list[tuple[int, str]]

    @property
    def refused(self) -> bool:
        return bool(self.invalid)


async def coupons_page(
    request: web.Request, *, status: int = 200, errors: list[str] | None = None,
    report: LoadReport | None = None, form: dict[str, str] | None = None,
) -> web.StreamResponse:  # fmt: skip
    async with request.app[SERVICES].db.session() as session:
        pools = await pool_statuses(session)
    return render_page(
        request, "coupons.html", status=status, pools=pools, errors=errors or [], report=report,
        form=form or {}, listed=LISTED, max_mb=MAX_CODES_BYTES // (1024 * 1024),
    )  # fmt: skip


async def pool_create(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    form = {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
    name = form.get("name", "").strip()
    errors = []
    if not 1 <= len(name) <= 100:
        errors.append(_("A pool needs a name of 1 to 100 characters."))
    mark_text = form.get("low_water_mark", "").strip() or "0"
    mark = int(mark_text) if mark_text.isdigit() else -1
    if not 0 <= mark <= 10_000_000:
        errors.append(_("The low-stock warning level is a whole number of codes, 0 or more."))
    if not errors:
        try:
            async with services.db.transaction() as session:
                await create_pool(
                    session, name, description=form.get("description", "").strip(), low_water_mark=mark,
                    now=services.clock.now(),
                )  # fmt: skip
                audit(request, session, "console.coupon_pool_created", name, low_water_mark=mark)
        except CouponError:
            errors.append(_("There is already a coupon pool named “%(name)s”.") % {"name": name})
    if errors:
        return await coupons_page(request, status=400, errors=errors, form=form)
    raise redirect(request, "/coupons", "saved")


async def _load(request: web.Request, pool: CouponPool, found: CodeList, file_name: str) -> web.StreamResponse:
    services = request.app[SERVICES]
    added = 0
    if not found.invalid and found.codes:
        async with services.db.transaction() as session:
            stored = await session.get(CouponPool, pool.id)
            assert stored is not None
            added = await add_code_list(session, stored, found.codes, services.clock.now())
            audit(
                request, session, "console.coupon_codes_loaded", pool.name, file=file_name, added=added,
                duplicates=len(found.duplicates), blank_lines=len(found.blank_lines),
            )  # fmt: skip
    report = LoadReport(
        pool=pool.name, file_name=file_name, added=added, already=0 if found.invalid else len(found.codes) - added,
        header=found.header, blank_lines=found.blank_lines, duplicates=found.duplicates, invalid=found.invalid,
    )  # fmt: skip
    errors = [] if found.codes or found.invalid else [_("The list holds no code.")]
    return await coupons_page(request, status=400 if report.refused or errors else 200, report=report, errors=errors)


async def codes_pasted(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        pool = await get_or_404(session, CouponPool, request, "pool_id", _NO_POOL)
    form = await request.post()
    text = form.get("codes")
    found = await asyncio.to_thread(read_code_list, (text if isinstance(text, str) else "").splitlines())
    return await _load(request, pool, found, "")


@streams_multipart
async def codes_uploaded(request: web.Request) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        pool = await get_or_404(session, CouponPool, request, "pool_id", _NO_POOL)
    try:
        uploaded = await receive_upload(request, file_field="file", max_bytes=MAX_CODES_BYTES)
    except UploadError as error:
        return await coupons_page(request, status=error.status, errors=[str(error)])
    try:
        found = await asyncio.to_thread(read_code_file, uploaded.path)
    except CouponError:
        return await coupons_page(request, status=400, errors=[_("The file is not UTF-8 text.")])
    finally:
        await asyncio.to_thread(discard, uploaded.path)
    return await _load(request, pool, found, uploaded.file_name)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/coupons", coupons_page)
    router.add_post("/coupons", pool_create)
    router.add_post("/coupons/{pool_id}/codes", codes_pasted)
    router.add_post("/coupons/{pool_id}/upload", codes_uploaded)
