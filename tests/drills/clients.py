"""Clients of the drilled servers: signing in, and a live-updates client that behaves like a
browser's EventSource (when its stream drops it reconnects with ``Last-Event-ID``)."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from tests.live_clients import Listener, Received, open_sse

RECONNECT_SECONDS = 0.3
MOST_RECONNECTS = 100


class ResumingStream:
    """One live-updates subscription across however many connections it takes: each
    reconnect (after ``RECONNECT_SECONDS``) resumes from the last id any of them stated."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self._client = client
        self._headers = headers
        self._streams: list[Listener] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def events(self) -> list[Received]:
        return [event for stream in self._streams for event in stream.events]

    @property
    def connections(self) -> int:
        """Streams that opened with 200 (1 when it never dropped)."""
        return sum(1 for stream in self._streams if stream.status == 200)

    @property
    def position(self) -> int | None:
        positions = [s.position for s in self._streams if s.position is not None]
        return positions[-1] if positions else None

    async def start(self) -> None:
        self._streams.append(await open_sse(self._client, self._headers))
        assert self._streams[0].status == 200
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        for _ in range(MOST_RECONNECTS):
            await self._streams[-1].ended.wait()
            await asyncio.sleep(RECONNECT_SECONDS)
            try:
                stream = await open_sse(self._client, self._headers, self.position)
            except (TimeoutError, httpx.TransportError):
                stream = Listener(status=None)
                stream.ended.set()
            self._streams.append(stream)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for stream in self._streams:
            await stream.stop()
