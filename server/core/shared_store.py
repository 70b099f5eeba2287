"""What a shared store (Redis, for the feed cache and the login throttle) is doing, so the
app keeps serving when it is gone.

Each operation on the store gets a short time limit. When one fails, its caller falls back
to a per-process stand-in (the local cache, an in-memory throttle) and the store is left
alone for ``retry_seconds``; then the next operation tries it again, and the first that
succeeds puts the store back in use. One WARNING when the store is lost and one when it is
back: never one per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

log = logging.getLogger("tinedy.shared_store")

OPERATION_SECONDS = 0.5
RETRY_SECONDS = 5.0
LOCAL = "local"  # no shared store configured: per process by design

T = TypeVar("T")


class StoreUnavailable(Exception):
    """The shared store failed or is resting after a failure: use the stand-in."""


class SharedStore:
    def __init__(self, name: str, retry_seconds: float = RETRY_SECONDS) -> None:
        """``name`` says what the store is for, in logs and in /readyz."""
        self.name = name
        self._retry_seconds = retry_seconds
        self._failure: str | None = None
        self._resting_until = 0.0

    @property
    def status(self) -> str:
        """``ok``, or ``degraded: <why>`` while the stand-in serves."""
        return "ok" if self._failure is None else f"degraded: {self._failure}"

    async def run(self, operation: Callable[[], Awaitable[T]]) -> T:
        """``operation()``'s result; StoreUnavailable when it fails, times out or the store
        is resting (``operation`` is then not called)."""
        if self._failure is not None and time.monotonic() < self._resting_until:
            raise StoreUnavailable(self._failure)
        try:
            async with asyncio.timeout(OPERATION_SECONDS):
                result = await operation()
        except Exception as exc:
            self._failed(exc)
            raise StoreUnavailable(self.status) from exc
        if self._failure is not None:
            log.warning("%s: the shared store answers again; shared once more", self.name)
            self._failure = None
        return result

    def _failed(self, exc: Exception) -> None:
        if self._failure is None:
            log.warning(
                "%s: the shared store failed (%r); per process until it is back", self.name, exc
            )
        self._failure = str(exc) or type(exc).__name__
        self._resting_until = time.monotonic() + self._retry_seconds
