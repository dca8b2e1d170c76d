"""Order imports (admins): upload, progress while it runs in the background, report, rejects as CSV."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web

from base.i18n import N_, _
from console.access import admin_only, streams_multipart
from console.audit import audit
from console.csv_export import csv_chunk
from console.engine_text import engine_text
from console.imports_runner import IMPORTS, ImportJob, unexpected_error
from console.keys import BASE_PATH, SERVICES, VIEWER
from console.lookup import get_or_404
from console.queries.imports import all_rejects, failed_import_entry, first_rejects, recent_imports
from console.rendering import redirect, render_page
from console.security import actor_name, wants_json
from console.uploads import UploadError, discard, receive_upload
from handlers.context import Services
from orders.importer import ImportOptions, import_file
from orders.presets import PLATFORM_CHOICES
from storage.models.orders import ImportRun

# The largest export accepted from the browser; bigger files go through `scrm orders import`.
MAX_IMPORT_BYTES = 200 * 1024 * 1024
# Generic imports need a mapping file: the command line offers that.
PLATFORMS = tuple(choice for choice in PLATFORM_CHOICES if choice != "generic")


@admin_only
async def imports_page(request: web.Request, *, error: str = "", status: int = 200) -> web.StreamResponse:
    async with request.app[SERVICES].db.session() as session:
        runs = await recent_imports(session)
    jobs = [job for job in request.app[IMPORTS].jobs.values() if job.state in ("queued", "running")]
    return render_page(
        request, "imports.html", status=status, runs=runs, jobs=jobs, platforms=PLATFORMS, error=error,
        max_mb=MAX_IMPORT_BYTES // (1024 * 1024),
    )  # fmt: skip


@admin_only
@streams_multipart
async def upload(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    viewer = request[VIEWER]
    try:
        uploaded = await receive_upload(request, file_field="file", max_bytes=MAX_IMPORT_BYTES)
    except UploadError as error:
        if wants_json(request):
            return web.json_response({"error": str(error)}, status=error.status)
        return await imports_page(request, error=str(error), status=error.status)
    platform = uploaded.fields.get("platform", "auto")
    if platform not in PLATFORMS:
        await asyncio.to_thread(discard, uploaded.path)
        message = _("unknown platform “%(platform)s”") % {"platform": platform}
        if wants_json(request):
            return web.json_response({"error": message}, status=400)
        return await imports_page(request, error=message, status=400)
    tracker = request.app[IMPORTS]
    job = ImportJob(
        job_id=tracker.new_job_id(),
        file_name=uploaded.file_name,
        platform=platform,
        actor=actor_name(viewer),
        total_bytes=uploaded.size,
        started_at=services.clock.now(),
    )

    async def work(path: Path, running: ImportJob) -> int:
        options = ImportOptions(platform=running.platform, actor=running.actor)
        try:
            report = await import_file(
                services.db, services.settings, path, clock=services.clock, options=options, progress=running.progress
            )
            if report.run_id is None:
                raise RuntimeError("the importer finished without recording a run")
        except Exception as error:
            # Most failures come before the importer records a run: the audit entry is what lists them
            # under recent imports (in every process, after a restart). The tracker still reports it.
            await _record_failure(services, running, error)
            raise
        return report.run_id

    async with services.db.transaction() as session:
        audit(request, session, "console.import_started", uploaded.file_name, platform=platform, bytes=uploaded.size)
    tracker.start(job, uploaded.path, work, services.clock.now)
    progress_path = f"/imports/jobs/{job.job_id}"
    if wants_json(request):
        return web.json_response({**job.as_json(), "progress_url": request.app[BASE_PATH] + progress_path}, status=202)
    raise redirect(request, progress_path)


async def _record_failure(services: Services, job: ImportJob, error: Exception) -> None:
    # The same words the tracker gives the job page: the importer's own message, else the exception.
    message = str(error) if isinstance(error, ValueError) else unexpected_error(error)
    entry = failed_import_entry(
        at=services.clock.now(),
        actor=job.actor,
        file_name=job.file_name,
        platform=job.platform,
        started_at=job.started_at,
        error=message,
    )
    async with services.db.transaction() as session:
        session.add(entry)


def _job(request: web.Request) -> ImportJob:
    job = request.app[IMPORTS].jobs.get(request.match_info["job_id"])
    if job is None:
        raise web.HTTPNotFound(text=_("No such import in this server process (it may have restarted)."))
    return job


@admin_only
async def job_progress(request: web.Request) -> web.StreamResponse:
    progress = _job(request).as_json()
    return web.json_response({**progress, "error": engine_text(progress["error"])})


@admin_only
async def job_page(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    if job.state == "done" and job.run_id is not None:
        raise redirect(request, f"/imports/{job.run_id}")
    return render_page(request, "import_job.html", job=job)


async def _run(request: web.Request) -> ImportRun:
    async with request.app[SERVICES].db.session() as session:
        return await get_or_404(session, ImportRun, request, "run_id", N_("No such import."))


@admin_only
async def run_report(request: web.Request) -> web.StreamResponse:
    run = await _run(request)
    async with request.app[SERVICES].db.session() as session:
        rejects = await first_rejects(session, run.id or 0)
    return render_page(request, "import_report.html", run=run, rejects=rejects)


@admin_only
async def rejects_csv(request: web.Request) -> web.StreamResponse:
    run = await _run(request)
    assert run.id is not None
    services = request.app[SERVICES]
    async with services.db.transaction() as session:
        audit(request, session, "console.rejects_downloaded", f"import_run:{run.id}", rejected=run.rejected)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="rejects-{run.id}.csv"',
        }
    )
    await response.prepare(request)
    columns: list[str] | None = None
    async for page in all_rejects(services.db, run.id):
        if columns is None:
            columns = list(dict.fromkeys(key for reject in page for key in reject.cells))
            await response.write(csv_chunk([["line", "reason", "detail", *columns, "other cells"]], with_bom=True))
        rows = []
        for reject in page:
            extra = {key: value for key, value in reject.cells.items() if key not in columns}
            rows.append(
                [
                    str(reject.line_no),
                    reject.reason,
                    reject.detail,
                    *(reject.cells.get(key, "") for key in columns),
                    json.dumps(extra, ensure_ascii=False) if extra else "",
                ]
            )
        await response.write(csv_chunk(rows))
    if columns is None:
        await response.write(csv_chunk([["line", "reason", "detail"]], with_bom=True))
    await response.write_eof()
    return response


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/imports", imports_page)
    router.add_post("/imports", upload)
    router.add_get(r"/imports/jobs/{job_id:[A-Za-z0-9_-]+}.json", job_progress)
    router.add_get(r"/imports/jobs/{job_id:[A-Za-z0-9_-]+}", job_page)
    router.add_get(r"/imports/{run_id:\d+}", run_report)
    router.add_get(r"/imports/{run_id:\d+}/rejects.csv", rejects_csv)
