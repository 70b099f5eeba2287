"""One client's live stream, the same for SSE and WebSocket: what it missed (replayed from
the log), then live events, with heartbeats, until its token expires or the hub ends it.

No gap and no duplicate at the switch: the stream subscribes first (from then on the hub
queues every event after ``start``), replays the log up to ``start``, then sends what was
queued, skipping any id it already sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from server.db.queries import changes as change_queries
from server.realtime.events import Event
from server.realtime.hub import LiveHub
from server.security.tokens import Principal
from server.services.jobs import NO_BRANCH

REPLAY_PAGE = 500
RESET_DATA = b'{"reason":"history_compacted","reload":"/api/mobile/sync/changes?since=0"}'


@dataclass(frozen=True)
class Heartbeat:
    """Nothing happened for a while: say so, so proxies and phones keep the line open."""


async def live_events(
    hub: LiveHub,
    principal: Principal,
    last_event_id: int | None,
    expires_at: float,
    heartbeat_seconds: float,
) -> AsyncGenerator[Event | Heartbeat, None]:
    """Events for ``principal`` after ``last_event_id`` (or from now), then live ones."""
    subscriber = hub.subscribe(principal)
    try:
        start = hub.last_id
        sent = start
        if last_event_id is not None:
            sent = max(start, last_event_id)
            async for missed in _missed(hub, principal, last_event_id, start):
                yield missed
        while True:
            wait = min(heartbeat_seconds, expires_at - time.time())
            if wait <= 0:
                return  # the token expired: the client refreshes and reconnects
            try:
                event = await asyncio.wait_for(subscriber.queue.get(), wait)
            except TimeoutError:
                if time.time() < expires_at:
                    yield Heartbeat()
                continue
            if event is None:
                return
            if event.id > sent:
                sent = event.id
                yield event
    finally:
        hub.unsubscribe(subscriber)


async def _missed(
    hub: LiveHub, principal: Principal, after: int, up_to: int
) -> AsyncIterator[Event]:
    """The caller's events in ``(after, up_to]`` from the log; a ``reset`` event instead when
    the log no longer holds them all."""
    if after < await change_queries.compacted_through():
        yield Event(
            up_to,
            "reset",
            b'{"reason":"history_compacted","reload":"/api/mobile/sync/changes?since=0"}',
        )
        return
    user_id = principal.user_id if principal.role == "staff" else None
    branch_id = None if principal.role == "admin" else (principal.branch_id or NO_BRANCH)
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
            return
        cursor = int(rows[-1]["id"])
