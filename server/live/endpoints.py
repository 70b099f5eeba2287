"""``/api/mobile/live-updates``: the caller's live events as Server-Sent Events, or as JSON
frames over a WebSocket (``/ws``). Both resume from the last event id the client saw.

Tokens never go in URLs (they end up in logs): SSE from a browser rides the session cookie,
other clients send the bearer header. A WebSocket opened by a browser must come from the
app's own origin. A device and a person may hold only so many streams at once
(:mod:`server.live.caps`): past that a new stream gets 429 (a WebSocket closes with 4429).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

from sanic import Blueprint, HTTPResponse, Request
from sanic.server.websockets.impl import WebsocketImplProtocol
from websockets.protocol import State

from server.context import AppContext, app_context
from server.core.access import Principal
from server.core.schemas import Problem
from server.errors import ApiError, InvalidCursor, OriginRefused, TokenInUrl
from server.http.endpoint import endpoint, presented_token, principal_of
from server.http.security_headers import secure
from server.live.events import CLOSING, Event
from server.live.hub import Sink
from server.live.stream import Closing, Heartbeat, Item, live_events

live_routes = Blueprint("live", url_prefix="/api/mobile/live-updates")
live_routes.middleware(secure, "response")  # its streams' headers leave mid-handler
RETRY_MILLISECONDS = 3000
SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "Vary": "Authorization, Cookie",
}


@live_routes.get("")
@endpoint(
    "The caller's live events as Server-Sent Events; resumes after Last-Event-ID "
    "(or ?lastEventId=).",
    responses={200: None, 400: Problem, 401: Problem, 429: Problem},
    stream=True,
)
async def stream_live_updates(request: Request, principal: Principal) -> HTTPResponse:
    ctx = app_context(request)
    # A browser's EventSource sends Last-Event-ID itself when it reconnects; a new one (after
    # a token refresh) cannot, so it may say where it was in the query instead.
    raw_position = request.headers.get("last-event-id") or request.args.get("lastEventId")
    last_event_id = resume_point(request, raw_position)
    expires_at = ctx.signer.access_expiry(presented_token(request)[0])
    with ctx.stream_caps.hold(principal):
        response: HTTPResponse = await request.respond(
            headers=SSE_HEADERS, content_type="text/event-stream; charset=utf-8"
        )
        await response.send(f"retry: {RETRY_MILLISECONDS}\n\n")
        heartbeat = ctx.settings.live_heartbeat_seconds
        sink = sse_sink(request, response)
        events = live_events(ctx.hub, principal, last_event_id, expires_at, heartbeat, sink)
        try:  # as aclosing() would, without an object more per idle stream
            async for item in events:
                await response.send(sse_frame(item))
        finally:
            await events.aclose()
    await response.eof()  # type: ignore[no-untyped-call]
    return response


@live_routes.websocket("/ws")  # type: ignore[untyped-decorator]  # Sanic leaves it untyped
@endpoint(
    "The same events as JSON frames {event, id, data}; resumes after ?lastEventId=. "
    "Closes with 4000 + the HTTP status of a refusal (4401, 4403, 4400, 4429).",
    roles=None,
)
async def live_updates_socket(request: Request, ws: WebsocketImplProtocol) -> None:
    ctx = app_context(request)
    try:
        principal = principal_of(request)
        require_app_origin(request, ctx.settings.app_origin)
        last_event_id = resume_point(request, request.args.get("lastEventId"))
        expires_at = ctx.signer.access_expiry(presented_token(request)[0])
        ctx.rate_limits.spend_read(principal.device_id, principal.user_id)
        with ctx.stream_caps.hold(principal):
            await _send_live_events(ws, ctx, principal, last_event_id, expires_at)
    except ApiError as refused:
        await ws.close(code=4000 + refused.status, reason=refused.code)
        return
    await ws.close(code=1000, reason="stream_ended")


async def _send_live_events(
    ws: WebsocketImplProtocol,
    ctx: AppContext,
    principal: Principal,
    last_event_id: int | None,
    expires_at: float,
) -> None:
    heartbeat = ctx.settings.live_heartbeat_seconds
    # Read what the client sends (and drop it): unread frames stop Sanic answering pings.
    reader = asyncio.create_task(_drain(ws))
    events = live_events(ctx.hub, principal, last_event_id, expires_at, heartbeat, ws_sink(ws))
    try:
        async for item in events:
            await ws.send(ws_frame(item))
    finally:
        reader.cancel()
        await events.aclose()


async def _drain(ws: WebsocketImplProtocol) -> None:
    with contextlib.suppress(Exception):
        while await ws.recv() is not None:
            pass


def resume_point(request: Request, raw: str | None) -> int | None:
    """Where the client left off: an id the stream sent, or None (from now on). An id the
    log never gave out is answered in the stream with a ``reset`` event (a browser gives up
    on an SSE error status)."""
    if "access_token" in request.args:
        raise TokenInUrl("Send the bearer header, or let the browser send its session cookie.")
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidCursor("The last event id must be an id this stream sent.")
    return int(raw)


def require_app_origin(request: Request, app_origin: str) -> None:
    """A browser's WebSocket carries the page's Origin: only the app's own may connect."""
    origin = request.headers.get("origin")
    if origin is None:
        return  # not a browser: it authenticated with its bearer token
    expected = urlsplit(app_origin).netloc if app_origin else request.host
    if urlsplit(origin).netloc != expected:
        raise OriginRefused(f"Origin {origin} is not this app's.")


def sse_sink(request: Request, response: HTTPResponse) -> Sink | None:
    """Writes an event's chunk straight to the connection while it has nothing unsent (the
    hub then hands the same bytes to every stream of an audience, with no task woken); a
    response that is not chunked (HEAD) gets none."""
    chunked = response.headers.get("transfer-encoding") == "chunked"
    if request.method != "GET" or not chunked:
        return None
    return ChunkSink(request.transport)


def ws_sink(ws: WebsocketImplProtocol) -> Sink | None:
    """The same for a WebSocket, while it is open and no send of Sanic's is under way."""
    transport = ws.io_proto.transport if ws.io_proto is not None else None
    return None if transport is None else MessageSink(transport, ws)


class ChunkSink:
    """An SSE stream's sink: one small object per stream (thousands are held idle)."""

    __slots__ = ("_transport",)

    def __init__(self, transport: Any) -> None:
        self._transport = transport

    def __call__(self, event: Event) -> bool:
        transport = self._transport
        if transport.get_write_buffer_size() or transport.is_closing():
            return False
        transport.write(event.sse_chunk)
        return True


class MessageSink:
    """A WebSocket's sink: whole frames, between Sanic's own sends, while it is open."""

    __slots__ = ("_transport", "_ws")

    def __init__(self, transport: Any, ws: WebsocketImplProtocol) -> None:
        self._transport = transport
        self._ws = ws

    def __call__(self, event: Event) -> bool:
        transport, ws = self._transport, self._ws
        finished = ws.data_finished_fut
        if (
            transport.get_write_buffer_size()
            or transport.is_closing()
            or ws.ws_proto.state is not State.OPEN
            or ws.conn_mutex.locked()
            or finished is None
            or finished.done()
        ):
            return False
        transport.write(event.ws_message)
        return True


def sse_frame(item: Item) -> bytes:
    """An event; a heartbeat is an ``id:`` with no data (it moves the client's
    Last-Event-ID without an event) and a comment; a closing notice has no id."""
    if isinstance(item, Heartbeat):
        return b"id: %d\n: heartbeat\n\n" % item.position
    if isinstance(item, Closing):
        return b'event: %s\ndata: {"reason":"%s"}\n\n' % (CLOSING.encode(), item.reason.encode())
    return item.sse


def ws_frame(item: Item) -> str:
    if isinstance(item, Heartbeat):
        return f'{{"event":"heartbeat","id":{item.position}}}'
    if isinstance(item, Closing):
        return f'{{"event":"closing","data":{{"reason":"{item.reason}"}}}}'
    return item.json
