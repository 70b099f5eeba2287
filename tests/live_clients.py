"""Clients of the live-update streams, as tests drive them: each reads its stream in the
background and keeps what arrived."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

LIVE = "/api/mobile/live-updates"


@dataclass(frozen=True)
class Received:
    id: int
    name: str
    data: dict[str, Any]


@dataclass
class Listener:
    """One stream's events as they arrive, and whether (and how) it ended."""

    events: list[Received] = field(default_factory=list)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    heartbeats: int = 0
    position: int | None = None  # the last id the stream stated, with an event or without
    closing: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    close_code: int | None = None
    task: asyncio.Task[None] | None = None

    def names(self) -> list[str]:
        return [event.name for event in self.events]

    def before(self, barrier: int) -> list[Received]:
        """What arrived ahead of the event with id ``barrier`` (see :func:`pass_barrier`)."""
        return [event for event in self.events if event.id < barrier]

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


async def open_sse(
    client: httpx.AsyncClient, headers: dict[str, str], last_event_id: int | None = None
) -> Listener:
    listener = Listener()
    if last_event_id is not None:
        headers = headers | {"Last-Event-ID": str(last_event_id)}
    listener.task = asyncio.create_task(_read_sse(client, headers, listener))
    await asyncio.wait_for(listener.opened.wait(), 10)
    return listener


async def _read_sse(client: httpx.AsyncClient, headers: dict[str, str], listener: Listener) -> None:
    try:
        timeout = httpx.Timeout(5, read=60)
        async with client.stream("GET", LIVE, headers=headers, timeout=timeout) as response:
            listener.status = response.status_code
            listener.headers = dict(response.headers)
            listener.opened.set()
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    listener.heartbeats += 1
                elif line == "":
                    _dispatch(listener, fields)
                    fields = {}
                else:
                    key, _, value = line.partition(": ")
                    fields[key] = value
    finally:
        listener.opened.set()
        listener.ended.set()


def _dispatch(listener: Listener, fields: dict[str, str]) -> None:
    """One SSE message: an event, a closing notice (no id), or a bare position (no data)."""
    if "id" in fields:
        listener.position = int(fields["id"])
    if "data" not in fields:
        return
    data = json.loads(fields["data"])
    if fields.get("event") == "closing":
        listener.closing = data["reason"]
    else:
        listener.events.append(Received(int(fields["id"]), fields["event"], data))


async def open_ws(base_url: str, headers: dict[str, str], query: str = "") -> Listener:
    listener = Listener()
    listener.task = asyncio.create_task(_read_ws(base_url, headers, query, listener))
    await asyncio.wait_for(listener.opened.wait(), 10)
    return listener


async def _read_ws(base_url: str, headers: dict[str, str], query: str, listener: Listener) -> None:
    url = base_url.replace("http://", "ws://") + f"{LIVE}/ws{query}"
    try:
        async with websockets.connect(url, additional_headers=headers) as socket:
            listener.opened.set()
            try:
                async for frame in socket:
                    message = json.loads(frame)
                    if message["event"] == "heartbeat":
                        listener.heartbeats += 1
                        listener.position = message["id"]
                    elif message["event"] == "closing":
                        listener.closing = message["data"]["reason"]
                    else:
                        listener.events.append(
                            Received(message["id"], message["event"], message["data"])
                        )
                        listener.position = message["id"]
            except websockets.ConnectionClosed:
                pass
            listener.close_code = socket.close_code
    finally:
        listener.opened.set()
        listener.ended.set()


async def pass_barrier(
    client: httpx.AsyncClient,
    teams: list[tuple[dict[str, str], str]],
    listeners: list[Listener],
) -> int:
    """Send each team of ``teams`` (its office's headers, its id) a team update and wait
    until every listener has heard one; the barrier's event id. A stream delivers in log
    order, so by then anything an earlier change was going to bring it has arrived: "nothing
    else came" without a guessed sleep."""
    barrier = 0
    for office, team in teams:
        sent = await client.post(
            "/api/dispatch/team-updates",
            json={"teamId": team, "message": "barrier"},
            headers=office,
        )
        assert sent.status_code == 202, sent.text
        barrier = barrier or int(sent.json()["eventId"])
    await until(
        lambda: all(any(e.id >= barrier for e in listener.events) for listener in listeners),
        "every stream to pass the barrier",
    )
    return barrier


async def until(check: Any, what: str, seconds: float = 5.0) -> None:
    """Wait (polling every 20 ms, at most ``seconds``) until ``check()`` is true."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
