"""Work on a schedule, once across instances: racing claimers on both engines run a due job
once; a lapsed lease is taken over; a failure is retried; two real server processes on one
PostgreSQL run the retention purges once, audited as the system's acts."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from server.core.schedule import DailyAt, ScheduledJob, Scheduler
from server.db.engine import engine_for
from server.db.migrate import apply_migrations
from server.db.tables import AuditEvent, ScheduledRun
from server.ops.queries import SCHEDULED_RUNS, scheduled_runs
from server.ops.retention import COMPACT_CHANGES, PURGE_AUDIT, PURGE_LOCATIONS
from tests.conftest import create_postgres_database, make_settings
from tests.servers import running_instances, wait_for
from tests.world import World

AT_THREE = DailyAt(time(3, 0))
NOON_BANGKOK = datetime(2026, 12, 5, 5, 0, tzinfo=UTC)


class Fixed:
    """A clock a test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def counting_job(name: str, runs: list[str], pause: float = 0.05) -> ScheduledJob:
    async def run(now: datetime) -> dict[str, Any]:
        runs.append(name)
        await asyncio.sleep(pause)  # long enough for every racer to try its claim meanwhile
        return {"did": len(runs)}

    return ScheduledJob(name, AT_THREE, run)


async def make_due(name: str, at: datetime) -> None:
    await ScheduledRun.update({ScheduledRun.next_run_at: at}).where(ScheduledRun.name == name)


def test_daily_at_is_the_next_bangkok_three_o_clock() -> None:
    assert AT_THREE.next_after(NOON_BANGKOK) == datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    just_before = datetime(2026, 12, 5, 19, 59, tzinfo=UTC)
    assert AT_THREE.next_after(just_before) == datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    on_the_dot = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    assert AT_THREE.next_after(on_the_dot) == datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    assert DailyAt.parse("23:30").at == time(23, 30)


async def test_racing_claimers_run_a_due_job_once(world: World, engine_kind: str) -> None:
    name = f"race-{engine_kind}-{os.getpid()}"
    runs: list[str] = []
    clock = Fixed(NOON_BANGKOK)
    racers = [
        Scheduler([counting_job(name, runs)], ledger=SCHEDULED_RUNS, every=60, clock=clock)
        for _ in range(8)
    ]
    assert await asyncio.gather(*(r.step() for r in racers)) == [False] * 8
    assert runs == [], "not due before its first 03:00"

    await make_due(name, NOON_BANGKOK - timedelta(minutes=1))
    results = await asyncio.gather(*(r.run_if_due(r.jobs[0]) for r in racers))
    assert runs == [name]
    assert [r for r in results if r is not None] == [{"ok": True, "did": 1}]
    row = next(r for r in await scheduled_runs() if r["name"] == name)
    assert row["last_result"] == {"ok": True, "did": 1}
    assert row["lease_owner"] is None
    assert row["next_run_at"].astimezone(UTC) == AT_THREE.next_after(NOON_BANGKOK)

    again = await asyncio.gather(*(r.run_if_due(r.jobs[0]) for r in racers))
    assert again == [None] * 8 and runs == [name], "done for today"


async def test_a_lapsed_lease_is_taken_over_and_a_failure_retried(
    world: World, engine_kind: str
) -> None:
    name = f"lapse-{engine_kind}-{os.getpid()}"
    clock = Fixed(NOON_BANGKOK)
    attempts: list[datetime] = []

    async def failing(now: datetime) -> dict[str, Any]:
        attempts.append(now)
        raise RuntimeError("database went away")

    died = Scheduler(
        [counting_job(name, [])], ledger=SCHEDULED_RUNS, every=60, clock=clock, owner="dead"
    )
    await died.step()  # makes the row
    await make_due(name, NOON_BANGKOK)
    await ScheduledRun.update(
        {
            ScheduledRun.lease_owner: "dead",
            ScheduledRun.lease_until: NOON_BANGKOK + timedelta(minutes=30),
        }
    ).where(ScheduledRun.name == name)
    survivor = Scheduler(
        [ScheduledJob(name, AT_THREE, failing)], ledger=SCHEDULED_RUNS, every=60, clock=clock
    )
    assert await survivor.run_if_due(survivor.jobs[0]) is None, "the lease still holds"

    clock.now = NOON_BANGKOK + timedelta(minutes=31)
    assert await survivor.run_if_due(survivor.jobs[0]) == {"ok": False, "error": "RuntimeError"}
    row = next(r for r in await scheduled_runs() if r["name"] == name)
    assert row["next_run_at"].astimezone(UTC) == clock.now + survivor.retry
    assert len(attempts) == 1


async def test_two_instances_run_the_retention_purges_once(tmp_path: Path) -> None:
    database_url = await create_postgres_database("tinedy_schedule")
    past = datetime.now(UTC) - timedelta(minutes=1)
    async with engine_for(make_settings(database_url, tmp_path)):
        await apply_migrations()
        for name in (PURGE_LOCATIONS, COMPACT_CHANGES, PURGE_AUDIT):
            await ScheduledRun.insert(ScheduledRun(name=name, next_run_at=past)).run()

    async with (
        running_instances(
            database_url, tmp_path, RETENTION_SCHEDULE="true", SCHEDULE_POLL_SECONDS="0.1"
        ),
        engine_for(make_settings(database_url, tmp_path)),
    ):

        async def all_ran() -> bool:
            rows = await scheduled_runs()
            return len(rows) == 3 and all(r["last_run_at"] is not None for r in rows)

        await wait_for(all_ran, "the purges to run", seconds=30)
        await asyncio.sleep(1.0)  # ten more polls of each instance: nothing runs again
        rows = {r["name"]: r for r in await scheduled_runs()}
        events = await AuditEvent.select().where(AuditEvent.action.like("retention.%"))

    assert sorted(e["action"] for e in events) == [
        "retention.compact-changes",
        "retention.purge-audit",
        "retention.purge-locations",
    ]
    assert {(e["actor_kind"], e["actor_id"]) for e in events} == {("system", None)}
    assert rows[PURGE_LOCATIONS]["last_result"] == {"ok": True, "purged": 0}
    assert rows[PURGE_AUDIT]["last_result"] == {"ok": True, "dropped": 0}
    assert all(r["next_run_at"] > datetime.now(UTC) for r in rows.values())
    assert all(r["lease_owner"] is None for r in rows.values())
