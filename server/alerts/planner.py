"""The alert planner each HTTP worker of a server runs (``ALERT_PLANNING``): it raises
alerts from new change-log rows as soon as its worker's change mirror reads one that may
call for one, and from all of them every ``ALERT_POLL_SECONDS``, when it also scans for late
starts.

Workers and instances share the work through the database: the cursor is taken under a row
lock and each alert is written once (see ``service.py``), so running a planner in every
worker costs a few reads, never a second alert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from server.alerts import plans
from server.alerts.service import PLAN_BATCH, plan_alerts, raise_late_starts
from server.config import Settings
from server.core.background import PollingLoop

log = logging.getLogger("tinedy.alerts")


def system_clock() -> datetime:
    return datetime.now(UTC)


class AlertPlanner:
    """One worker's alert planner; ``clock`` tells it the time (a fixed one in tests)."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = system_clock) -> None:
        self._clock = clock
        self._late_after = timedelta(minutes=settings.late_start_minutes)
        self._push_ttl = settings.push_ttl_seconds
        self._scan_every = settings.alert_poll_seconds
        self._last_scan = float("-inf")
        self._loop = PollingLoop(
            "alert-planner",
            self.work_once,
            settings.alert_poll_seconds,
            logger=log,
            doing="raising alerts",
            traceback=True,
            level=logging.ERROR,
        )

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Let a step in hand finish (it may be inside a transaction), then cancel."""
        await self._loop.stop(grace=5)

    def wake(self) -> None:
        self._loop.wake()

    async def heard(self, rows: list[dict[str, Any]]) -> None:
        """A change-mirror listener: new rows that may raise an alert wake the planner."""
        if any(plans.watched(row) for row in rows):
            self.wake()

    async def work_once(self) -> bool:
        """Plan a batch of new rows and, when due, scan for late starts; True when more
        rows may wait."""
        read = await plan_alerts(self._push_ttl, self._clock())
        if time.monotonic() - self._last_scan >= self._scan_every:
            self._last_scan = time.monotonic()
            await raise_late_starts(self._clock(), self._late_after, self._push_ttl)
        return read == PLAN_BATCH
