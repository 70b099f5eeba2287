"""PostgreSQL's wake-up call for the change mirror: every transaction that appends to the
change log sends one NOTIFY at commit; each worker holds one LISTEN connection and wakes its
mirror at once instead of at the next poll.

The poll goes on underneath, so a lost listening connection (a database restart, a killed
backend) delays delivery by at most one poll interval while this reconnects; after
reconnecting it wakes the mirror, which catches up from the log: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg

from server.core.background import Backoff
from server.db.engine import CHANGES_CHANNEL

APPLICATION_NAME = "tinedy-change-listener"
LIVENESS_SECONDS = 10.0
RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 8.0

log = logging.getLogger("tinedy.notifications")


class ChangeNotifications:
    def __init__(
        self, dsn: str, wake: Callable[[], None], application_name: str = APPLICATION_NAME
    ) -> None:
        """``application_name`` tells the listening connections apart in pg_stat_activity."""
        self._dsn = dsn
        self._wake = wake
        self._application_name = application_name
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="change-notifications")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen_forever(self) -> None:
        """Reconnect for as long as it takes, waiting RETRY_SECONDS at first and twice as
        long after each failed try, up to MAX_RETRY_SECONDS; one warning per outage."""
        backoff = Backoff(RETRY_SECONDS, MAX_RETRY_SECONDS)
        while True:
            try:
                await self._listen_once()
                reason = "connection lost"
            except Exception as exc:  # whatever it was, the poll covers while we retry
                reason = repr(exc)
            if self.connected.is_set():  # it had connected: this is a new outage
                backoff.succeeded()
            if not backoff.failing:
                log.warning("listening for changes stopped (%s); reconnecting", reason)
            self.connected.clear()
            await asyncio.sleep(backoff.failed())

    async def _listen_once(self) -> None:
        """Listen until the connection is lost; a liveness query catches a silent loss."""
        connection = await asyncpg.connect(
            self._dsn, timeout=5, server_settings={"application_name": self._application_name}
        )
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(CHANGES_CHANNEL, self._notified)
            self.connected.set()
            self._wake()  # whatever committed while we were not listening
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), LIVENESS_SECONDS)
                if not lost.is_set():
                    await connection.fetchval("SELECT 1", timeout=5)
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)

    def _notified(self, *_: Any) -> None:
        self._wake()


@contextlib.asynccontextmanager
async def woken_by_changes(
    database_url: str | None, wake: Callable[[], None], application_name: str
) -> AsyncIterator[None]:
    """While the block runs, call ``wake`` at each commit to the change log (PostgreSQL's
    NOTIFY; with ``database_url`` None, as on SQLite, the caller's poll alone)."""
    if database_url is None:
        yield
        return
    listener = ChangeNotifications(database_url, wake, application_name)
    listener.start()
    try:
        yield
    finally:
        await listener.stop()
