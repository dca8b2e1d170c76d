"""The filtered profile list as a CSV download: admins only, on the audit log, streamed chunk by chunk.

Phone numbers are masked unless the admin ticks "full phone numbers"; the audit entry says which. A
million profiles are read 2,000 at a time by id, each chunk in its own short session, and written out
before the next is read, so memory stays flat and no transaction stays open for the whole download.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiohttp import web

from base.clock import CHINA
from base.i18n import _
from base.vault import PhoneVault
from console.access import admin_only
from console.audit import audit
from console.csv_export import csv_chunk
from console.keys import SERVICES
from console.labels import label
from console.profile_form import parse_filter
from storage.profile_list import ExportRow, export_chunk

CHUNK = 2_000


def _header() -> list[str]:
    return [
        _("Profile"), _("Name"), _("Phone"), _("City"), _("Segment"), "R", "F", "M", _("Orders"),
        _("Spent (¥)"), _("Last order (China time)"), _("Created (China time)"),
    ]  # fmt: skip


def _cells(rows: Sequence[ExportRow], vault: PhoneVault | None) -> list[list[str]]:
    """CSV cells of a chunk; with a vault, the numbers unsealed (CPU work: run in a thread)."""
    out = []
    for row in rows:
        phone = row.phone_masked
        if vault is not None and row.phone_sealed:
            try:
                phone = vault.unseal(row.phone_sealed)
            except ValueError:  # sealed under another key: the masked number rather than a failed download
                phone = row.phone_masked
        out.append(
            [
                str(row.id), row.name, phone, row.city, label(row.segment, "segment"), str(row.r_score),
                str(row.f_score), str(row.m_score), str(row.order_count), f"{row.total_spent_fen / 100:.2f}",
                row.last_order_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if row.last_order_at else "",
                row.created_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M"),
            ]
        )  # fmt: skip
    return out


@admin_only
async def profile_list_export(request: web.Request) -> web.StreamResponse:
    form = {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
    wanted = parse_filter(form)
    full_phone = form.get("full_phone") == "1"
    services = request.app[SERVICES]
    now = services.clock.now()
    # On the record before the first byte leaves: a download cut short was still a disclosure.
    async with services.db.transaction() as session:
        audit(
            request, session, "console.profiles_exported", "profiles", filter=wanted.spec.to_doc(),
            full_phone=full_phone,
        )  # fmt: skip
    vault = services.vault if full_phone else None
    stamp = now.astimezone(CHINA).strftime("%Y%m%d-%H%M")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="profiles-{stamp}.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    await response.write(csv_chunk([_header()], with_bom=True))
    after = 0
    while True:
        async with services.db.session() as session:
            rows = await export_chunk(session, wanted.spec, now=now, after=after, limit=CHUNK)
        if not rows:
            break
        cells = await asyncio.to_thread(_cells, rows, vault)
        await response.write(csv_chunk(cells))
        after = rows[-1].id
    await response.write_eof()
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/profiles/export.csv", profile_list_export)
