"""A CRM's webhook receiver on loopback (tests only): it verifies every delivery's Standard
Webhooks signature with the ``standardwebhooks`` library, as a real receiver would, keeps
what it received, and answers as scripted (a status, a redirect, or no answer in time)."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a status (a 3xx carries a Location), after ``delay`` seconds."""

    status: int = 200
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body)
        return parsed

    @property
    def event_id(self) -> str:
        return self.headers["webhook-id"].removeprefix("evt_")

    def verify(self, secret: str) -> dict[str, Any]:
        verified: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return verified

    def signed_by(self, secret: str) -> bool:
        try:
            self.verify(secret)
        except WebhookVerificationError:
            return False
        return True


@dataclass
class Receiver:
    """Started with ``async with``; ``url(path)`` is where a webhook should point."""

    replies: deque[Reply] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/hooks") -> str:
        return self.origin + path

    def script(self, *replies: Reply | int) -> None:
        """The next answers, in order; 200 once they are used up."""
        self.replies.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def of_path(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        reply = self.replies.popleft() if self.replies else Reply()
        body = await request.read()
        self.received.append(
            Received(request.path, {k.lower(): v for k, v in request.headers.items()}, body, 0)
        )
        if reply.delay:
            await asyncio.sleep(reply.delay)
        self.received[-1].status = reply.status
        headers = {"Location": self.url("/redirected")} if 300 <= reply.status < 400 else {}
        return web.Response(status=reply.status, text="scripted", headers=headers)
