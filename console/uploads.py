"""Receiving a file upload: multipart read part by part, the file streamed to disk under a size limit.

Nothing is buffered whole in memory, and the event loop never blocks on the disk: chunks are gathered
into ~1 MiB slices and each slice is written from a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aiohttp import BodyPartReader, web

from base.i18n import N_, _
from console.keys import VIEWER
from console.security import CSRF_FIELD, CSRF_HEADER, tokens_match

_SLICE = 1024 * 1024
_FIELD_LIMIT = 10_000
_EXPIRED = N_("the form has expired or did not come from this console; reload it")


class UploadError(ValueError):
    """The upload cannot be accepted; the message is shown to the admin."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class UploadedFile:
    """A file saved to a private temporary path, and the plain form fields sent before it."""

    path: Path
    file_name: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)


def safe_file_name(raw: str | None) -> str:
    """The browser's file name reduced to a harmless last component (kept for the import record)."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip().replace("\x00", "")
    name = name.lstrip(".")[:200]
    return name or "upload"


def discard(path: Path) -> None:
    """Remove an uploaded file and its private directory (blocking: call through a thread)."""
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


async def _save(part: BodyPartReader, file_name: str, max_bytes: int) -> tuple[Path, int]:
    # A private directory per upload keeps the original name (the importer reports it) collision-free.
    directory = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="scrm-upload-"))
    path = directory / file_name
    stream: BinaryIO = await asyncio.to_thread(path.open, "xb")
    size = 0
    pending = bytearray()
    try:
        while chunk := await part.read_chunk(256 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise UploadError(
                    _("the file is larger than the limit of %(size)d MB") % {"size": max_bytes // (1024 * 1024)}, 413
                )
            pending += chunk
            if len(pending) >= _SLICE:
                await asyncio.to_thread(stream.write, bytes(pending))
                pending.clear()
        if pending:
            await asyncio.to_thread(stream.write, bytes(pending))
        await asyncio.to_thread(stream.close)
    except BaseException:
        await asyncio.to_thread(stream.close)
        with contextlib.suppress(OSError):
            await asyncio.to_thread(discard, path)
        raise
    return path, size


async def _read_field(part: BodyPartReader) -> str:
    raw = bytearray()
    while chunk := await part.read_chunk(4096):
        raw += chunk
        if len(raw) > _FIELD_LIMIT:
            raise UploadError(_("the form field “%(field)s” is too long") % {"field": part.name})
    return raw.decode("utf-8", "replace")


async def receive_upload(request: web.Request, *, file_field: str, max_bytes: int) -> UploadedFile:
    """Read the form: plain fields, then the file. The CSRF token must come as the header or a field
    placed before the file (the browser sends fields in form order), so no file is stored unchecked."""
    if request.content_type != "multipart/form-data":
        raise UploadError(_("send the file as multipart/form-data"))
    viewer = request[VIEWER]
    checked = tokens_match(request.headers.get(CSRF_HEADER, ""), viewer.csrf_token)
    fields: dict[str, str] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise UploadError(_("nested multipart bodies are not accepted"))
        if part.name == file_field and part.filename is not None:
            if not checked:
                raise UploadError(_(_EXPIRED), 403)
            name = safe_file_name(part.filename)
            path, size = await _save(part, name, max_bytes)
            if size == 0:
                await asyncio.to_thread(discard, path)
                raise UploadError(_("the file is empty"))
            return UploadedFile(path, name, size, fields)
        value = await _read_field(part)
        if part.name == CSRF_FIELD:
            checked = checked or tokens_match(value, viewer.csrf_token)
        elif part.name:
            fields[part.name] = value
    if not checked:
        raise UploadError(_(_EXPIRED), 403)
    raise UploadError(_("choose a file to upload"))
