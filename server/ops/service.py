"""What the probes and ``/metrics`` say about the instance, from the database and the worker.

Readiness depends on the database alone: the shared stores (Redis) have stand-ins, so they
only make the instance ``degraded``. A probe's answer names what is down, in fixed words:
why it failed (an address, a driver's message) goes to the log, never to the caller.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from server.changes.service import ChangeMirror
from server.core.metrics import (
    MirrorHealth,
    QueueHealth,
    ScheduledRunHealth,
    record_mirror,
    record_planner_lag,
    record_queues,
    record_ready,
    record_scheduled_runs,
    record_webhook_health,
    start_at_zero,
    start_push_results_at_zero,
)
from server.errors import NotReady
from server.http.rate_limits import SIGN_IN_FAILURES, THROTTLED, RouteClass
from server.live.caps import LIVE_STREAMS
from server.ops import queries
from server.ops.retention import RETENTION_JOBS
from server.webhooks.service import disabled_webhooks, webhook_health

log = logging.getLogger("tinedy.ops")

DEGRADED = "degraded: serving from each worker's memory until it is back"
READ_EVERY_SECONDS = 5.0  # Prometheus scrapes every 15 to 60 s


class SharedStore(Protocol):
    async def probe(self) -> str:
        """``local``, ``ok`` or ``degraded: <why>``."""
        ...


async def readiness(shared: Mapping[str, SharedStore]) -> dict[str, str]:
    """Each dependency's state; NotReady when the database does not answer."""
    stores = {name: public_state(await store.probe()) for name, store in shared.items()}
    try:
        await queries.ping()
        disabled = await disabled_webhooks()
    except Exception as exc:
        log.warning("not ready: the database did not answer (%r)", exc)
        raise NotReady({"database": "down", **stores}) from exc
    return {"database": "ok", **stores, "webhooks": webhooks_state(disabled)}


def public_state(status: str) -> str:
    """A shared store's state without the failure's text (``degraded: <why>``)."""
    return DEGRADED if status.startswith("degraded") else status


def webhooks_state(disabled: int) -> str:
    if not disabled:
        return "ok"
    return f"degraded: {disabled} webhook endpoint{'s' if disabled > 1 else ''} disabled"


class HealthReads:
    """The scrape-time reads, at most once per READ_EVERY_SECONDS in a worker: /metrics is
    public, and a flood of scrapes must not become a flood of queries."""

    def __init__(self) -> None:
        self._read_at = -math.inf

    async def record(self, mirror: ChangeMirror) -> None:
        if time.monotonic() - self._read_at < READ_EVERY_SECONDS:
            return
        self._read_at = time.monotonic()
        await record_health(mirror)


async def record_health(mirror: ChangeMirror) -> None:
    """Set the gauges read at scrape time (queues, planners, the change mirror, webhooks,
    scheduled jobs). The request metrics still answer while the database does not."""
    try:
        record_webhook_health(*await webhook_health())
        newest = await queries.newest_change_id()
        record_queues(await queue_health(datetime.now(UTC)))
        record_planner_lag(await planner_lag(newest))
        record_mirror(mirror_health(mirror, newest))
        record_scheduled_runs(await scheduled_run_health())
    except Exception:
        log.warning("reading the queues for /metrics failed", exc_info=True)
        record_ready(False)
    else:
        record_ready(True)


async def queue_health(now: datetime) -> dict[str, QueueHealth]:
    found = {
        "photos": await queries.photo_queue(now),
        "pushes": await queries.push_queue(now),
        "webhooks": await queries.webhook_queue(now),
    }
    return {
        queue: QueueHealth(backlog, (now - due).total_seconds() if due else 0.0)
        for queue, (backlog, due) in found.items()
    }


async def planner_lag(newest: int) -> dict[str, int]:
    """Log rows after each planner's cursor. Push planning reads only jobs' changes: while
    none follows its cursor, it is not behind."""
    cursors = await queries.plan_cursors()
    lags = {planner: newest - cursor for planner, cursor in cursors.items()}
    if lags.get("pushes") and not await queries.job_change_after(cursors["pushes"]):
        lags["pushes"] = 0
    return lags


def mirror_health(mirror: ChangeMirror, newest: int) -> MirrorHealth:
    return MirrorHealth(
        max(newest - mirror.last_id, 0), max(time.monotonic() - mirror.caught_up_at, 0.0)
    )


async def scheduled_run_health() -> dict[str, ScheduledRunHealth]:
    """Each retention job's last success and failures since, those never run yet at 0."""
    found = await queries.scheduled_run_outcomes()
    health = {}
    for name in RETENTION_JOBS:
        succeeded, failures = found.get(name, (None, 0))
        health[name] = ScheduledRunHealth(succeeded.timestamp() if succeeded else 0.0, failures)
    return health


def start_counters_at_zero(push_services: tuple[str, ...]) -> None:
    """The counters whose label values this module alone sees together (route classes, the
    sign-in throttle's and the live-stream cap's labels, the configured push services)."""
    start_at_zero(THROTTLED, (*RouteClass, SIGN_IN_FAILURES, LIVE_STREAMS))
    start_push_results_at_zero(push_services)
