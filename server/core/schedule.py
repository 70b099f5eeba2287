"""Work the product runs by itself on a schedule (the retention purges), once across
instances, with no operator's cron.

Each scheduled job has one ``scheduled_run`` row (made when first seen, due at its next
time). Every worker of every instance runs a :class:`Scheduler`: a polling loop that, for
each job, claims the row with one conditional UPDATE (due, and not leased or its lease
lapsed) that sets a lease. Only one claimer's UPDATE matches, so exactly one process runs the
job; it then writes ``last_run_at``, ``last_result`` and the next due time and lets the lease
go. A process that dies mid-run lets the lease lapse and another takes the job up; a run that
fails is tried again after ``retry``. The row also keeps when the job last succeeded and how
many runs failed since, which ``/metrics`` reads at each scrape (its alerts fire on a job that
stopped succeeding).

The rows are read and written through a :class:`RunLedger` (the ``scheduled_run`` queries
live in ``server/ops/queries.py``), so this module knows no table.

Times come from an injectable clock, so a test can make a job due without waiting for 03:00.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from server.core.background import PollingLoop
from server.core.clock import BANGKOK

log = logging.getLogger("tinedy.schedule")

Clock = Callable[[], datetime]
DEFAULT_LEASE = timedelta(minutes=30)
DEFAULT_RETRY = timedelta(minutes=15)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DailyAt:
    """Due once a day at ``at``, Bangkok time (no daylight saving: the same hour all year)."""

    at: time

    @classmethod
    def parse(cls, text: str) -> DailyAt:
        """``"03:00"``; ValueError for anything else."""
        hours, minutes = (int(part) for part in text.split(":"))
        return cls(time(hours, minutes))

    def next_after(self, moment: datetime) -> datetime:
        """The first such time strictly after ``moment``, in UTC."""
        local = moment.astimezone(BANGKOK)
        due = datetime.combine(local.date(), self.at, BANGKOK)
        if due <= local:
            due += timedelta(days=1)
        return due.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """``run(now)`` does the work and answers what it did (kept as ``last_result``)."""

    name: str
    when: DailyAt
    run: Callable[[datetime], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class RunLedger:
    """The queries on the jobs' rows: make one due at its first time unless it exists, claim
    its lease with one conditional UPDATE (True if this call won it), and settle a run (record
    it and let the lease go, only if the owner still holds it)."""

    ensure: Callable[[str, datetime], Awaitable[None]]
    claim: Callable[[str, str, datetime, datetime], Awaitable[bool]]
    settle: Callable[[str, str, datetime, datetime, dict[str, Any]], Awaitable[None]]


def process_owner() -> str:
    """Who holds a lease: this host and process, unique across restarts."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler:
    """Runs each due job of ``jobs`` once across every process that runs a scheduler."""

    def __init__(
        self,
        jobs: list[ScheduledJob],
        *,
        ledger: RunLedger,
        every: float,
        clock: Clock = utc_now,
        owner: str | None = None,
        lease: timedelta = DEFAULT_LEASE,
        retry: timedelta = DEFAULT_RETRY,
    ) -> None:
        self.jobs = jobs
        self.ledger = ledger
        self.clock = clock
        self.owner = owner or process_owner()
        self.lease = lease
        self.retry = retry
        self._made: set[str] = set()
        self.loop = PollingLoop(
            "scheduler", self.step, every, logger=log, doing="running scheduled jobs"
        )

    def start(self) -> None:
        self.loop.start()

    async def stop(self, grace: float = 5.0) -> None:
        await self.loop.stop(grace)

    async def step(self) -> bool:
        """One look at every job: run those due that this process claims. Never more now."""
        for job in self.jobs:
            await self.run_if_due(job)
        return False

    async def run_if_due(self, job: ScheduledJob) -> dict[str, Any] | None:
        """Run ``job`` if it is due and this process wins the claim; its result, else None."""
        now = self.clock()
        if job.name not in self._made:
            await self.ledger.ensure(job.name, job.when.next_after(now))
            self._made.add(job.name)
        if not await self.ledger.claim(job.name, self.owner, now, now + self.lease):
            return None
        try:
            result = {"ok": True, **await job.run(now)}
            next_run = job.when.next_after(now)
        except Exception as exc:
            log.exception("scheduled job %s failed; trying again in %s", job.name, self.retry)
            result = {"ok": False, "error": type(exc).__name__}
            next_run = now + self.retry
        await self.ledger.settle(job.name, self.owner, self.clock(), next_run, result)
        return result
