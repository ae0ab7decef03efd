"""A lean HTTP/1.1 client for the reverse proxy's one upstream, ``127.0.0.1:<app_port>``.

A general client (httpx over h11) spends more time per request than the app being proxied,
which halves throughput on a small machine. The proxy needs far less: one loopback host,
requests already parsed by uvicorn, bodies streamed as they are. So requests are written
by hand and responses parsed by ``httptools`` (llhttp, the parser uvicorn itself uses), on a
small pool of keep-alive connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httptools

CONNECT_TIMEOUT = 5.0
READ_CHUNK = 1 << 18
# Servers close idle keep-alive connections (uvicorn after 5 s); don't reuse one that old.
MAX_IDLE_SECONDS = 4.0


class UpstreamUnavailable(Exception):
    """Nothing accepts connections on the app port."""


class UpstreamError(Exception):
    """The app broke the exchange (closed early, sent something unparsable)."""


@dataclass(eq=False)
class _Connection:
    port: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False
    idle_since: float = field(default_factory=time.monotonic)

    def usable(self) -> bool:
        return (
            not self.reader.at_eof()
            and not self.writer.is_closing()
            and time.monotonic() - self.idle_since < MAX_IDLE_SECONDS
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _ResponseParser:
    """httptools callbacks gathered into a status line, headers and body chunks."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.complete = False
        self.interim = False
        self.keep_alive = False
        self.chunks: deque[bytes] = deque()
        self.parser = httptools.HttpResponseParser(self)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        # 1xx (e.g. 103 Early Hints) precede the real response on the same connection.
        self.interim = self.parser.get_status_code() < 200
        self.headers_done = not self.interim
        # llhttp answers this reliably only inside the callbacks.
        self.keep_alive = bool(self.parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.headers.clear()
            self.interim = False
        else:
            self.complete = True


class UpstreamResponse:
    def __init__(
        self, pool: UpstreamPool, connection: _Connection, parser: _ResponseParser, head: bool
    ) -> None:
        self._pool = pool
        self._connection = connection
        self._parser = parser
        self.status = int(parser.parser.get_status_code())
        self.headers = parser.headers
        # A HEAD response announces a body it does not send; the parser cannot know that.
        self._done = head or parser.complete or self.status in (204, 304)
        self._keep_alive = parser.keep_alive and not head
        self._released = False

    async def body(self) -> AsyncIterator[bytes]:
        """The body as it arrives (transfer coding removed, content coding kept)."""
        parser = self._parser
        while True:
            while parser.chunks:
                yield parser.chunks.popleft()
            if self._done or parser.complete:
                return
            data = await self._connection.reader.read(READ_CHUNK)
            if not data:
                # A body delimited by the connection closing ends here; otherwise it was cut.
                with contextlib.suppress(httptools.HttpParserError):
                    parser.parser.feed_data(b"")
                self._keep_alive = False
                if not parser.complete and self._has_length():
                    raise UpstreamError("the app closed the connection mid-body")
                self._done = True
                continue
            try:
                parser.parser.feed_data(data)
            except httptools.HttpParserError as error:
                self._keep_alive = False
                raise UpstreamError(f"unparsable response from the app: {error}") from error

    def buffered_body(self) -> bytes | None:
        """The whole body if it already arrived with the headers (typical of small pages)."""
        if not (self._done or self._parser.complete):
            return None
        body = b"".join(self._parser.chunks)
        self._parser.chunks.clear()
        self._done = True
        return body

    def _has_length(self) -> bool:
        return any(name in (b"content-length", b"transfer-encoding") for name, _ in self.headers)

    def release(self) -> None:
        """Give the connection back for reuse if the exchange ended cleanly, else close it."""
        if self._released:
            return
        self._released = True
        clean = self._keep_alive and (self._done or self._parser.complete)
        self._pool.put_back(self._connection, reusable=clean and not self._parser.chunks)


class UpstreamPool:
    def __init__(self, max_idle: int = 32) -> None:
        self.max_idle = max_idle
        self._idle: deque[_Connection] = deque()

    async def request(
        self,
        port: int,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None,
        body_length: int | None,
    ) -> UpstreamResponse:
        """Send a request and return once the response headers are in.

        ``body_length`` is the body's Content-Length, or ``None`` to send it chunked.
        A request without a body that fails on a reused connection (the app closed it while
        idle) is retried once on a fresh one.
        """
        head = [f"{method} ".encode(), target, b" HTTP/1.1\r\n"]
        for name, value in headers:
            head += [name, b": ", value, b"\r\n"]
        if body is not None:
            if body_length is None:
                head.append(b"transfer-encoding: chunked\r\n")
            else:
                head += [b"content-length: ", str(body_length).encode(), b"\r\n"]
        head.append(b"\r\n")
        request_head = b"".join(head)
        connection = await self._connect(port)
        try:
            return await self._exchange(connection, request_head, body, body_length, method)
        except (UpstreamError, ConnectionError) as error:
            connection.close()
            if not connection.reused or body is not None:
                raise UpstreamError(str(error) or type(error).__name__) from error
        connection = await self._connect(port, fresh=True)
        try:
            return await self._exchange(connection, request_head, None, None, method)
        except (UpstreamError, ConnectionError) as error:
            connection.close()
            raise UpstreamError(str(error) or type(error).__name__) from error

    async def _exchange(
        self,
        connection: _Connection,
        request_head: bytes,
        body: AsyncIterator[bytes] | None,
        body_length: int | None,
        method: str,
    ) -> UpstreamResponse:
        writer = connection.writer
        writer.write(request_head)
        if body is not None:
            chunked = body_length is None
            async for chunk in body:
                if chunked:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    writer.write(chunk)
                await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
        await writer.drain()
        parser = _ResponseParser()
        while not parser.headers_done:
            data = await connection.reader.read(READ_CHUNK)
            if not data:
                raise UpstreamError("the app closed the connection before answering")
            try:
                parser.parser.feed_data(data)
            except httptools.HttpParserError as error:
                raise UpstreamError(f"unparsable response from the app: {error}") from error
        return UpstreamResponse(self, connection, parser, head=method == "HEAD")

    async def _connect(self, port: int, fresh: bool = False) -> _Connection:
        while self._idle and not fresh:
            connection = self._idle.pop()
            if connection.port == port and connection.usable():
                connection.reused = True
                return connection
            connection.close()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, limit=READ_CHUNK), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as error:
            raise UpstreamUnavailable(str(error)) from error
        return _Connection(port=port, reader=reader, writer=writer)

    def put_back(self, connection: _Connection, reusable: bool) -> None:
        connection.idle_since = time.monotonic()
        if reusable and len(self._idle) < self.max_idle and connection.usable():
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
