"""The HTTP ends of the files panel's streams, shared by the REST API and the dashboard:
a download as an attachment that is never rendered, and a request body read in chunks.

Daphne hands Django the body, which spools it to a temporary file past a few MB; reading
it with ``request.read(n)`` (never ``request.body``) keeps an upload of any size out of the
web process's memory and out of ``DATA_UPLOAD_MAX_MEMORY_SIZE``'s way.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import AsyncIterator

from django.http import HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header

from projects.errors import ProjectError

UPLOAD_CHUNK_BYTES = 1024 * 1024


def attachment(
    chunks: AsyncIterator[bytes], filename: str, content_type: str
) -> StreamingHttpResponse:
    """A download: bytes from a Sprite are untrusted, so they are never shown inline nor
    sniffed into something a browser would run."""
    response = StreamingHttpResponse(chunks, content_type=content_type)
    name = posixpath.basename(filename.rstrip("/")) or "home"
    response["Content-Disposition"] = content_disposition_header(True, name) or "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "no-store"
    return response


def download_name(path: str, *, archive: bool = False, home_name: str = "home") -> str:
    base = posixpath.basename(path.rstrip("/"))
    if base in ("", "."):
        base = home_name
    return f"{base}.zip" if archive else base


def check_upload_length(request: HttpRequest, max_bytes: int) -> None:
    """Refuse a body announced as too large before reading any of it."""
    announced = request.META.get("CONTENT_LENGTH") or ""
    if announced.isdigit() and int(announced) > max_bytes:
        raise ProjectError(
            f"A file uploaded here has at most {max_bytes // 1024 // 1024} MB.", "too_large"
        )


async def request_chunks(request: HttpRequest) -> AsyncIterator[bytes]:
    """The request body as it is read, 1 MiB at a time."""
    while True:
        chunk = await asyncio.to_thread(request.read, UPLOAD_CHUNK_BYTES)
        if not chunk:
            return
        yield chunk
