"""One client's live stream, the same for SSE and WebSocket: what it missed (replayed from
the log), then live events, with heartbeats, until its token expires or the hub ends it.

No gap and no duplicate at the switch: the stream subscribes first (from then on the hub
queues every event after ``start``), replays the log up to ``start``, then sends what was
queued, skipping any id it already sent. Only then may the hub write live events straight to
the client's connection (the caller's sink), and only while nothing waits in the queue, so
the order holds.

The client always knows where it stands, even when nothing was for it: the stream states
its position when it opens and with each heartbeat (an SSE ``id:`` with no event moves the
browser's Last-Event-ID), so a reconnect resumes from there instead of from "now".
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from server.changes import queries as change_queries
from server.core.access import Principal, Role
from server.live.events import RESET, Event
from server.live.hub import LiveHub, Sink

REPLAY_PAGE = 500
RESET_DATA = b'{"reason":"%s","reload":"/api/mobile/sync/changes?since=0"}'


@dataclass(frozen=True)
class Heartbeat:
    """Nothing more for this client up to ``position``: a heartbeat that also says where
    to resume from."""

    position: int


@dataclass(frozen=True)
class Closing:
    """Why the stream ends (``token_expired``, ``session_revoked``, ``session_changed`` (the
    office changed the person's role, branch or team), ``too_slow``, ``shutting_down``): the
    client refreshes if it must, then resumes."""

    reason: str


Item = Event | Heartbeat | Closing


async def live_events(
    hub: LiveHub,
    principal: Principal,
    last_event_id: int | None,
    expires_at: float,
    heartbeat_seconds: float,
    sink: Sink | None = None,
) -> AsyncGenerator[Item, None]:
    """Events for ``principal`` after ``last_event_id`` (or from now), then live ones.

    With a ``sink`` (which writes an event's frame straight to the client's connection),
    once the stream has caught up the hub hands it live events directly, and this generator
    yields only what waited (the connection was busy), heartbeats and the closing notice:
    its caller must have sent each item before asking for the next."""
    subscriber = hub.subscribe(principal)
    try:
        start = hub.last_id
        if last_event_id is None:
            # "From now" is the log's head, which this worker's mirror may not have read yet:
            # what was committed before the stream opened is not sent as news.
            subscriber.sent = max(start, await change_queries.newest_change_id())
        else:
            subscriber.sent = max(start, last_event_id)
        if last_event_id is not None:
            async for missed in _missed(hub, principal, last_event_id, start):
                if missed.name == RESET:
                    subscriber.sent = start
                yield missed
        yield Heartbeat(subscriber.sent)
        subscriber.sink = sink if subscriber.ended is None else None
        while True:
            wait = min(heartbeat_seconds, expires_at - time.time())
            if wait <= 0:
                yield Closing("token_expired")
                return
            event = subscriber.take()
            if event is None:
                if subscriber.ended is not None:
                    yield Closing(subscriber.ended)
                    return
                if await subscriber.wait(wait) or time.time() >= expires_at:
                    continue  # an event waits or the stream ended; or say why at the top
                if not subscriber.waiting:
                    # Everything up to the hub's last id that was for this client was sent.
                    subscriber.sent = max(subscriber.sent, hub.last_id)
                yield Heartbeat(subscriber.sent)
                continue
            if event.id > subscriber.sent:
                subscriber.sent = event.id
                yield event
    finally:
        hub.unsubscribe(subscriber)


async def _missed(
    hub: LiveHub, principal: Principal, after: int, up_to: int
) -> AsyncIterator[Event]:
    """The caller's events in ``(after, up_to]`` from the log; a ``reset`` event instead when
    the log no longer holds them all (checked again after replaying: a compaction may have
    committed meanwhile)."""
    if after > up_to:
        if after > await change_queries.newest_change_id():  # not an id this log gave out
            yield reset(up_to, "unknown_position")
        return  # else another instance is a little ahead of this one: go on live
    if after < await change_queries.compacted_through():
        yield reset(up_to, "history_compacted")
        return
    audience = principal.audience
    user_id = audience.user_id if audience.role is Role.STAFF else None
    branch_id = audience.branch_filter
    cursor = after
    while cursor < up_to:
        rows = await change_queries.events_seen_by(
            cursor, up_to, REPLAY_PAGE, user_id=user_id, branch_id=branch_id
        )
        for _, event_of in await hub.events_of(rows):
            event = event_of(principal)
            if event is not None:
                yield event
        if len(rows) < REPLAY_PAGE:
            break
        cursor = int(rows[-1]["id"])
    if after < await change_queries.compacted_through():
        yield reset(up_to, "history_compacted")


def reset(position: int, reason: str) -> Event:
    """Tell the client to reload through the sync change feed, then go on from ``position``."""
    return Event(position, RESET, RESET_DATA % reason.encode())
