"""Reading usage off an answer as it passes through, without holding it back.

The proxy hands each chunk to the client first and to a ``UsageTap`` after; the tap never
raises and keeps little: for a Server-Sent Events stream only the incomplete event at the end
(bounded), and only events that can carry usage are decoded as JSON; for a
plain body (JSON, or Google's JSON array) at most ``MAX_BODY_BYTES``, decoded at the end.
A body encoded despite ``accept-encoding: identity`` (gzip, deflate) is decoded on the side.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from typing import Any

from gateway.calls import Usage
from gateway.usage_parsers import read_object, reader_for

logger = logging.getLogger(__name__)

# What is kept of a non-streamed body for reading its usage (the body itself goes on whole).
MAX_BODY_BYTES = 16 * 1024 * 1024
# One SSE event larger than this is skipped (an OpenAI ``response.completed`` repeats the
# whole answer, so it may be large, but not this large).
MAX_EVENT_BYTES = 16 * 1024 * 1024
# Every usage report of the four shapes has this in its data ("usage", "usageMetadata"):
# other events are not decoded at all.
USAGE_MARK = b"sage"
# Where one SSE event ends (a blank line; CRLF or LF).
EVENT_END = re.compile(rb"\r?\n\r?\n")


class UsageTap:
    """Collects what one answer reports; ``feed`` each raw chunk, then ``finish``."""

    def __init__(self, api: str, content_type: str, content_encoding: str = "") -> None:
        self.usage = Usage()
        self._reader = reader_for(api)
        self._sse = "text/event-stream" in content_type.lower()
        self._body = bytearray()
        self._body_overflow = False
        self._pending = b""  # the incomplete event at the end of what came so far
        self._decoder: Any = None
        encoding = content_encoding.strip().lower()
        if encoding in {"gzip", "x-gzip"}:
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        self._readable = encoding in {"", "identity", "gzip", "x-gzip", "deflate"}

    @property
    def streaming(self) -> bool:
        """Whether the answer is a Server-Sent Events stream."""
        return self._sse

    def feed(self, chunk: bytes) -> None:
        if not self._readable or not chunk:
            return
        try:
            if self._decoder is not None:
                chunk = self._decoder.decompress(chunk, MAX_EVENT_BYTES)
            if self._sse:
                self._feed_sse(chunk)
            elif not self._body_overflow:
                if len(self._body) + len(chunk) > MAX_BODY_BYTES:
                    self._body_overflow = True
                    self._body.clear()
                else:
                    self._body += chunk
        except Exception:  # metering must never break the stream
            logger.warning("could not read usage from an answer", exc_info=True)
            self._readable = False

    def finish(self) -> Usage:
        """The usage seen (what was reported so far, for a stream cut short)."""
        try:
            if self._readable and self._sse:
                self._feed_sse(b"\n\n")
            elif self._readable and self._body and not self._body_overflow:
                self._read(bytes(self._body))
        except Exception:
            logger.warning("could not read usage from an answer", exc_info=True)
        self._body.clear()
        return self.usage

    # -- Server-Sent Events ----------------------------------------------------------------

    def _feed_sse(self, chunk: bytes) -> None:
        """Complete events are looked at only when they carry the usage mark (one search in C
        per chunk for all the others); the incomplete tail waits for the next chunk."""
        buffer = self._pending + chunk if self._pending else chunk
        cut = max(buffer.rfind(b"\n\n"), buffer.rfind(b"\n\r\n"))
        if cut < 0:
            self._pending = buffer if len(buffer) <= MAX_EVENT_BYTES else b""
            return
        complete, self._pending = buffer[:cut], buffer[cut:].lstrip(b"\r\n")
        if USAGE_MARK not in complete:
            return
        for block in EVENT_END.split(complete):
            if USAGE_MARK in block and len(block) <= MAX_EVENT_BYTES:
                self._event(block)

    def _event(self, block: bytes) -> None:
        data = [
            line[6:] if line.startswith(b"data: ") else line[5:]
            for line in block.replace(b"\r\n", b"\n").split(b"\n")
            if line.startswith(b"data:")
        ]
        payload = b"\n".join(data)
        if USAGE_MARK in payload:
            self._read(payload)

    def _read(self, payload: bytes) -> None:
        try:
            value = json.loads(payload)
        except ValueError:
            return
        read_object(self._reader, value, self.usage)
