"""Steady requests against a server while a drill breaks something, each answer kept."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

MOST_REQUESTS = 5000
ANSWER_SECONDS = 5.0  # "fails fast, never hangs": every answer, good or bad, within this


@dataclass(frozen=True)
class Answer:
    what: str
    status: int | None  # None: no HTTP answer (connection refused or reset)
    content_type: str
    code: str | None
    seconds: float
    at: float


Request = Callable[[int], Awaitable[tuple[str, httpx.Response]]]


@dataclass
class Load:
    """``request(n)`` called back to back by ``workers`` tasks until stopped."""

    request: Request
    workers: int = 2
    answers: list[Answer] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _count: int = 0

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def stop(self) -> list[Answer]:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return self.answers

    def since(self, moment: float) -> list[Answer]:
        return [a for a in self.answers if a.at >= moment]

    async def _work(self) -> None:
        while self._count < MOST_REQUESTS:
            self._count += 1
            started = time.monotonic()
            try:
                what, response = await self.request(self._count)
            except httpx.TransportError as exc:
                self._keep(type(exc).__name__, None, "", None, started)
                await asyncio.sleep(0.05)
                continue
            code = None
            if response.headers.get("content-type") == "application/problem+json":
                code = response.json().get("code")
            self._keep(
                what, response.status_code, response.headers.get("content-type", ""), code, started
            )

    def _keep(
        self, what: str, status: int | None, content_type: str, code: str | None, started: float
    ) -> None:
        now = time.monotonic()
        self.answers.append(Answer(what, status, content_type, code, now - started, now))
