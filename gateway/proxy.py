"""The gateway's ASGI app: ``/gateway/p/<provider><rest>`` → the provider's real base URL.

For each call: the project's token is checked (a database lookup per call, nothing cached,
so a revoked token fails on its very next call), the provider resolved for the project's
owner (``upstreams``), the call admitted (``admission``: budgets, loop guard), then the
request goes out with the same method, path rest, query (less Google's ``key``) and body
bytes, the caller's credentials and ``x-starter-*`` headers removed and the owner's real key
put where the provider's API takes it. The answer streams back chunk by chunk as it arrives;
its usage is read on the side (``stream_tap``) and written to the ledger once, when the
answer ended or the caller left (``metering.arecord_call``). A caller who leaves mid-stream
closes the upstream request at once.

The caller is a Sprite, so hostile: the path rest can neither leave the provider's base URL
(dot segments, encoded slashes and backslashes are refused, and the built URL's origin is
checked against the base's) nor choose the host; request bodies are bounded.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError
from django.db import connection as db_connection
from starlette.types import Receive, Scope, Send

from bridge_agent import asgi_proxy
from bridge_agent.concurrency import until_first_done
from bridge_agent.protocol import (
    GATEWAY_PROVIDER_PREFIX,
    GATEWAY_SESSION_HEADER,
    SESSION_ID_PATTERN,
)
from gateway import admission, tokens
from gateway.calls import CallContext, Refusal, Upstream, Usage
from gateway.errors import (
    bad_request,
    send_refusal,
    stream_error,
    upstream_broke_off,
    upstream_unreachable,
)
from gateway.metering import arecord_call
from gateway.stream_tap import UsageTap
from gateway.upstreams import key_header, upstream_for
from projects.models import Status

logger = logging.getLogger(__name__)

MOUNT = "/gateway"
MAX_REQUEST_BYTES = 32 * 1024 * 1024
# Bodies larger than this are decoded (for the model name and admission) off the event
# loop, so one big conversation does not hold every other stream's chunks.
INLINE_JSON_BYTES = 256 * 1024
CONNECT_TIMEOUT = 10.0
# A streamed answer may pause while the model thinks: generous, but not forever.
READ_TIMEOUT = 600.0
# Credentials a caller may present the gateway token in (none of them goes upstream).
TOKEN_HEADERS = (b"authorization", b"x-api-key", b"x-goog-api-key", b"api-key")
NOT_FORWARDED = asgi_proxy.HOP_BY_HOP | {
    *TOKEN_HEADERS,
    b"host",
    b"content-length",
    b"cookie",
    b"accept-encoding",
    b"forwarded",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-real-ip",
}
PROVIDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
GOOGLE_MODEL = re.compile(r"/models/([^/:?]+):[A-Za-z]+$")
SESSION_ID = re.compile(SESSION_ID_PATTERN)
# A project on its way out takes its token with it, even before the token row is revoked.
GONE = frozenset({Status.DESTROYING, Status.DESTROYED})


@dataclass(frozen=True)
class Target:
    """What the path and query name: the provider and the rest to append to its base."""

    provider: str
    rest: str  # raw (still percent-encoded), "" or starting with "/"
    query: str  # raw, without ``key``


def parse_target(scope: Scope) -> Target | Refusal:
    """The provider and path rest of a gateway request, or why it is refused."""
    raw = scope.get("raw_path") or scope["path"].encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    prefix = MOUNT + GATEWAY_PROVIDER_PREFIX
    if not path.startswith(prefix):
        return Refusal(404, "provider_unknown", f"gateway paths start with {prefix}<provider>.")
    provider, slash, rest = path[len(prefix) :].partition("/")
    rest = slash + rest
    if not PROVIDER_NAME.match(provider):
        return Refusal(404, "provider_unknown", "that is not a provider name.")
    if not safe_rest(rest):
        return bad_request("that path is not one a provider's API has.")
    return Target(provider, rest, query_without_key(scope.get("query_string", b"")))


def safe_rest(rest: str) -> bool:
    """A path below the provider's base only: no dot segments (raw or percent-encoded), no
    encoded slash or backslash, no control characters, nothing but a plain path."""
    if rest and not rest.startswith("/"):
        return False
    if any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in rest) or "\\" in rest or "#" in rest:
        return False
    lowered = rest.lower()
    if "%2f" in lowered or "%5c" in lowered or "%25" in lowered or "%00" in lowered:
        return False
    decoded = unquote(rest)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in decoded) or "?" in decoded:
        return False
    return all(segment not in {".", ".."} for segment in decoded.split("/"))


def query_without_key(query: bytes) -> str:
    """The raw query less ``key=…`` (Google's way of sending a key)."""
    kept = [
        part
        for part in query.decode("latin-1").split("&")
        if part and unquote(part.split("=", 1)[0]) != "key"
    ]
    return "&".join(kept)


def query_key(query: bytes) -> str:
    for part in query.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if unquote(name) == "key":
            return unquote(value)
    return ""


def presented_token(scope: Scope) -> str:
    """The gateway token, from whichever header the caller's SDK put its key in."""
    found: dict[bytes, str] = {}
    for name, value in scope.get("headers", []):
        lowered = name.lower()
        if lowered in TOKEN_HEADERS and lowered not in found:
            found[lowered] = value.decode("latin-1").strip()
    for name in TOKEN_HEADERS:
        value = found.get(name, "")
        if name == b"authorization":
            scheme, _, credential = value.partition(" ")
            value = credential.strip() if scheme.lower() == "bearer" else ""
        if value:
            return value
    return query_key(scope.get("query_string", b""))


def header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def forwarded_headers(scope: Scope, upstream: Upstream) -> list[tuple[bytes, bytes]]:
    incoming: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
    dropped = NOT_FORWARDED | asgi_proxy.connection_tokens(incoming)
    headers = [
        (name.lower(), value)
        for name, value in incoming
        if name.lower() not in dropped and not name.lower().startswith(b"x-starter-")
    ]
    headers.append((b"accept-encoding", b"identity"))
    headers.append(key_header(upstream.api, upstream.key))
    return headers


def upstream_url(upstream: Upstream, target: Target) -> httpx.URL | None:
    """The real URL, or None when it would not stay on the provider's base URL."""
    text = upstream.base_url + target.rest + (f"?{target.query}" if target.query else "")
    try:
        url = httpx.URL(text)
        base = httpx.URL(upstream.base_url)
    except (httpx.InvalidURL, ValueError):
        return None
    same_origin = (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port)
    if not same_origin or url.userinfo or not url.path.startswith(base.path.rstrip("/")):
        return None
    return url


def response_headers(response: httpx.Response) -> list[tuple[bytes, bytes]]:
    """The provider's headers less hop-by-hop ones; ``content-length`` only for a plain body
    (a stream goes out chunked)."""
    streamed = "text/event-stream" in response.headers.get("content-type", "").lower()
    return [
        (name.lower(), value)
        for name, value in asgi_proxy.end_to_end(response.headers.raw)
        if not (streamed and name.lower() == b"content-length")
    ]


def model_of(body: dict[str, Any] | None, target: Target) -> str:
    if body is not None and isinstance(body.get("model"), str):
        return str(body["model"])[:200]
    found = GOOGLE_MODEL.search(target.rest)
    return unquote(found.group(1))[:200] if found else ""


def call_context(token: str, provider: str, model: str, session_id: str) -> CallContext | Refusal:
    """Who calls (from the token) and where their call really goes; runs in a thread."""
    row = tokens.resolve(token)
    project = row.project if row is not None else None
    # The project is live and its organisation still exists (the project's row goes with
    # it); the creator's account no longer matters: the organisation pays.
    organisation = project.organisation if project is not None else None
    if project is None or project.status in GONE or organisation is None:
        return Refusal(401, "token_invalid", "this gateway token is not valid (revoked?).")
    upstream = upstream_for(organisation, provider, model)
    if isinstance(upstream, Refusal):
        return upstream
    return CallContext(
        project_id=project.pk,
        project_public_id=project.public_id,
        project_name=project.name,
        user_id=project.owner_id,
        organisation_id=organisation.pk,
        organisation_public_id=organisation.public_id,
        organisation_name=organisation.name,
        provider=provider,
        session_id=session_id,
        upstream=upstream,
    )


def checked_call_context(
    token: str, provider: str, model: str, session_id: str
) -> CallContext | Refusal:
    """``call_context`` on this worker thread's kept database connection (a new connection per
    call would add milliseconds to every call's first token), made anew once when it broke
    (the database restarted, say)."""
    try:
        return call_context(token, provider, model, session_id)
    except (OperationalError, InterfaceError):
        db_connection.close()
        return call_context(token, provider, model, session_id)


class ClientLeft(Exception):
    """The caller went away before its request body was read."""


async def read_body(scope: Scope, receive: Receive) -> bytes | Refusal:
    declared = header(scope, b"content-length")
    if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        return bad_request("the request body is too large.", 413)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientLeft
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            return bad_request("the request body is too large.", 413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


async def decode_json(body: bytes) -> dict[str, Any] | None:
    if not body.lstrip()[:1] == b"{":
        return None
    if len(body) <= INLINE_JSON_BYTES:
        return _json_object(body)
    return await asyncio.to_thread(_json_object, body)


class GatewayApp:
    """The ASGI app mounted at ``/gateway/`` (``starter/asgi.py``)."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None
        self._settled = False

    @property
    def http(self) -> httpx.AsyncClient:
        """One pooled client per process, made on first use (inside the server's loop)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(
                    connect=CONNECT_TIMEOUT, read=READ_TIMEOUT, write=60.0, pool=30.0
                ),
                limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
                follow_redirects=False,
            )
        return self._http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4404})
            return
        try:
            await self._handle(scope, receive, send)
        except ClientLeft:
            return

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.monotonic()
        target = parse_target(scope)
        if isinstance(target, Refusal):
            await send_refusal(send, target)
            return
        token = presented_token(scope)
        if not token:
            await send_refusal(
                send, Refusal(401, "token_missing", "no gateway token was presented.")
            )
            return
        body = await read_body(scope, receive)
        if isinstance(body, Refusal):
            await send_refusal(send, body)
            return
        document = await decode_json(body)
        model = model_of(document, target)
        session = header(scope, GATEWAY_SESSION_HEADER.encode())
        context = await sync_to_async(checked_call_context, thread_sensitive=False)(
            token, target.provider, model, session if SESSION_ID.match(session) else ""
        )
        if isinstance(context, Refusal):
            await send_refusal(send, context)
            return
        url = upstream_url(context.upstream, target)
        if url is None:
            await send_refusal(send, bad_request("that path is not one a provider's API has."))
            return
        refusal = await admission.admit(context, document)
        if refusal is not None:
            await send_refusal(send, refusal)
            return
        await self._forward(scope, receive, send, context, url, body, model, started)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        context: CallContext,
        url: httpx.URL,
        body: bytes,
        model: str,
        started: float,
    ) -> None:
        request = self.http.build_request(
            scope["method"],
            url,
            headers=forwarded_headers(scope, context.upstream),
            content=body,
        )
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as error:
            logger.warning(
                "gateway: %s unreachable for project %s (%s)",
                context.provider,
                context.project_public_id,
                type(error).__name__,
            )
            await send_refusal(send, upstream_unreachable(context.provider))
            await self._record(context, Usage(), model, started, 502, complete=False)
            return
        tap = UsageTap(
            context.upstream.api,
            response.headers.get("content-type", ""),
            response.headers.get("content-encoding", ""),
        )
        ended = False

        async def relay() -> None:
            nonlocal ended
            try:
                async for chunk in response.aiter_raw():
                    if chunk:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                        tap.feed(chunk)
            except httpx.HTTPError as error:
                # The provider broke off mid-answer. An exception now would leave daphne with
                # a response it cannot end; a stream ends with an error event its SDK raises
                # instead, so the cut answer is never taken for a whole one.
                logger.warning(
                    "gateway: %s broke off an answer for project %s (%s)",
                    context.provider,
                    context.project_public_id,
                    type(error).__name__,
                )
                if tap.streaming:
                    refusal = upstream_broke_off(context.provider)
                    body = stream_error(context.upstream.api, refusal)
                    await send({"type": "http.response.body", "body": body, "more_body": True})
            else:
                ended = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": response_headers(response),
                }
            )
            await until_first_done(relay(), asgi_proxy.wait_disconnect(receive))
        finally:
            # Closes the connection to the provider at once when the caller left mid-answer.
            await response.aclose()
            await self._record(
                context, tap.finish(), model, started, response.status_code, complete=ended
            )
        self._settle()

    def _settle(self) -> None:
        """Once per process, after the first call (pi's model table read, the ORM and the
        client warmed up): what is alive now lives as long as the process, so it is moved out
        of the collector's sight (``starter/asgi.py`` did the same at start). Full collections
        then stay short: one walking all of it held every stream's chunks for ~40 ms on the
        bench's machine."""
        if not self._settled:
            self._settled = True
            gc.collect()
            gc.freeze()

    @staticmethod
    async def _record(
        context: CallContext,
        usage: Usage,
        model: str,
        started: float,
        status: int,
        *,
        complete: bool,
    ) -> None:
        duration_ms = int((time.monotonic() - started) * 1000)
        logger.info(
            "gateway call: project=%s provider=%s model=%s status=%s duration_ms=%d "
            "input=%d output=%d cache_read=%d cache_write=%d complete=%s",
            context.project_public_id,
            context.provider,
            usage.model or model,
            status,
            duration_ms,
            usage.input,
            usage.output,
            usage.cache_read,
            usage.cache_write,
            complete,
        )
        try:
            await asyncio.shield(
                arecord_call(
                    context,
                    usage,
                    model=model,
                    duration_ms=duration_ms,
                    status_code=status,
                    complete=complete,
                )
            )
        except Exception:
            logger.exception(
                "gateway: the ledger row of a call of project %s was not written",
                context.project_public_id,
            )


gateway_app = GatewayApp()
