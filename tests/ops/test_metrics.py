"""What /metrics says of the work queues, the change log's followers and sync, and the
bounded labels it says it with (docs/operations.md lists every metric)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from server.cluster.processes import stop
from server.context import AppContext
from server.core.metrics import count_sync_outcomes, method_label, push_result, push_service_label
from server.core.schedule import DailyAt, ScheduledJob, Scheduler
from server.db.tables import AlertPlanCursor, ChangeLog, PushDelivery, ScheduledRun
from server.http.rate_limits import RouteClass
from server.ops.queries import SCHEDULED_RUNS
from server.ops.retention import COMPACT_CHANGES, PURGE_AUDIT, PURGE_LOCATIONS
from server.ops.service import READ_EVERY_SECONDS
from tests.ops.test_ops import sample
from tests.phones import Dispatcher, Phone
from tests.servers import STOP_SECONDS, start_instance
from tests.sync.test_conflicts import TABLE as CONFLICT_TABLE
from tests.world import World, add_jobs, add_staff

HOSTS = ("fcm.googleapis.com", "*.notify.windows.com", "http://127.0.0.1:8765")


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_labels_come_from_known_sets() -> None:
    assert [method_label(m) for m in ("GET", "PATCH", "get", "XQZV", "A" * 100)] == [
        "GET",
        "PATCH",
        "other",
        "other",
        "other",
    ]
    assert push_service_label("wns2-par02p.notify.windows.com", HOSTS) == "*.notify.windows.com"
    assert push_service_label("fcm.googleapis.com", HOSTS) == "fcm.googleapis.com"
    assert push_service_label("127.0.0.1", HOSTS) == "http://127.0.0.1:8765"
    assert push_service_label("evil.example", HOSTS) == "other"
    assert [push_result(s) for s in (201, 410, 404, 413, 429, 503, 400, None)] == [
        "accepted",
        "gone",
        "gone",
        "too_large",
        "throttled",
        "service_error",
        "rejected",
        "no_answer",
    ]


async def test_sync_outcomes_are_counted_by_kind_and_conflicts_by_code(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    first, cancelled = (job["id"] for job in await add_jobs(staff, 2))
    phone = Phone(client, ctx, staff)
    bases = [(await phone.job(job))["job"]["version"] for job in (first, cancelled)]
    await Dispatcher(client, ctx, world.dispatcher).edit(cancelled, status="cancelled")
    watched = [
        ("tinedy_sync_mutations_total", {"kind": "update", "outcome": outcome})
        for outcome in ("applied", "duplicate", "conflict")
    ] + [("tinedy_sync_conflicts_total", {"code": "job_cancelled"})]
    before = [await sample(client, name, _labels(labels)) for name, labels in watched]

    applied = phone.update(first, bases[0], status="en_route")
    stale = phone.update(cancelled, bases[1], status="en_route")
    await phone.sync(applied, stale)
    await phone.sync(applied)  # the phone did not hear the answer: a replay

    after = [await sample(client, name, _labels(labels)) for name, labels in watched]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]


def test_a_reused_mutation_id_is_rejected_not_a_duplicate() -> None:
    entry = SimpleNamespace(kind="remark", mutation_id="m1")
    reused = SimpleNamespace(answer="failed", code="mutation_id_reused")
    label = ("tinedy_sync_mutations_total", {"kind": "remark", "outcome": "rejected"})
    registry_before = _registry_value(*label)
    count_sync_outcomes([entry], [reused], {"m1": {}})
    assert _registry_value(*label) == registry_before + 1


async def test_queues_report_their_backlog_and_how_long_the_oldest_has_been_due(
    client: httpx.AsyncClient, world: World
) -> None:
    overdue = datetime.now(UTC) - timedelta(minutes=10)
    rows = [_push_delivery(overdue), _push_delivery(datetime.now(UTC) + timedelta(hours=1))]
    await PushDelivery.insert(*rows).run()
    try:
        found = samples((await client.get("/metrics")).text)
    finally:
        await PushDelivery.delete().where(PushDelivery.id.is_in([r.id for r in rows])).run()
    pushes = frozenset({("queue", "pushes")})
    assert found[("tinedy_queue_backlog", pushes)] >= 2
    assert found[("tinedy_queue_oldest_age_seconds", pushes)] >= 600
    for queue in ("photos", "webhooks"):
        assert ("tinedy_queue_backlog", frozenset({("queue", queue)})) in found


async def test_a_flood_of_scrapes_reads_the_database_once_per_interval(
    client: httpx.AsyncClient, world: World
) -> None:
    """/metrics is public: scrapes within READ_EVERY_SECONDS reuse the last reads."""
    pushes = ("tinedy_queue_backlog", frozenset({("queue", "pushes")}))
    read_at = time.monotonic()
    first = samples((await client.get("/metrics")).text)[pushes]
    row = _push_delivery(datetime.now(UTC) - timedelta(minutes=1))
    await PushDelivery.insert(row).run()
    again = []
    try:
        for _ in range(20):  # those asked within the interval (a busy machine asks fewer)
            asked_at = time.monotonic()
            backlog = samples((await client.get("/metrics")).text)[pushes]
            if asked_at - read_at < READ_EVERY_SECONDS:
                again.append(backlog)
    finally:
        await PushDelivery.delete().where(PushDelivery.id == row.id).run()
    assert again and again == [first] * len(again)


async def test_planner_and_mirror_lag_are_read_from_the_change_log(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    await ctx.mirror.catch_up()
    last = await ChangeLog.select(ChangeLog.id).order_by(ChangeLog.id, ascending=False).first()
    assert last is not None, "the world made changes"
    newest = int(last["id"])
    cursor = await AlertPlanCursor.select().first()
    moved = cursor is None
    if moved:  # no planner ran on this database yet: place its cursor 3 rows back
        await AlertPlanCursor.insert(AlertPlanCursor(id=1, last_change_id=newest - 3)).run()
    try:
        found = samples((await client.get("/metrics")).text)
    finally:
        if moved:
            await AlertPlanCursor.delete().where(AlertPlanCursor.id == 1).run()
    expected = 3 if cursor is None else newest - int(cursor["last_change_id"])
    assert found[("tinedy_planner_lag_changes", frozenset({("planner", "alerts")}))] == expected
    assert found[("tinedy_change_mirror_lag_changes", frozenset())] == 0
    assert 0 <= found[("tinedy_change_mirror_lag_seconds", frozenset())] < 5


async def test_scheduled_jobs_report_their_last_success_and_the_failures_since(
    client: httpx.AsyncClient, world: World
) -> None:
    """The retention schedule's outcomes, read from ``scheduled_run`` at each scrape: the
    audit purge succeeded, then failed twice; the location purge never ran."""
    clock = _Clock(datetime(2026, 12, 5, 5, 0, tzinfo=UTC))
    answers: list[Exception | None] = [None, RuntimeError("disk full"), RuntimeError("again")]

    async def flaky(now: datetime) -> dict[str, Any]:
        if failure := answers.pop(0):
            raise failure
        return {"dropped": 0}

    job = ScheduledJob(PURGE_AUDIT, DailyAt.parse("03:00"), flaky)
    scheduler = Scheduler([job], ledger=SCHEDULED_RUNS, every=60, clock=clock)
    try:
        await scheduler.step()  # makes the row, due at the next 03:00
        clock.now = succeeded = job.when.next_after(clock.now) + timedelta(minutes=1)
        assert await scheduler.run_if_due(job) == {"ok": True, "dropped": 0}
        for later in (timedelta(days=1), scheduler.retry):  # the next day's run, its retry
            clock.now += later + timedelta(seconds=1)
            assert await scheduler.run_if_due(job) == {"ok": False, "error": "RuntimeError"}
        found = samples((await client.get("/metrics")).text)
    finally:
        await ScheduledRun.delete().where(ScheduledRun.name == PURGE_AUDIT)
    assert answers == []
    audit = frozenset({("scheduled_job", PURGE_AUDIT)})
    never = frozenset({("scheduled_job", PURGE_LOCATIONS)})
    last_success = "tinedy_scheduled_run_last_success_timestamp_seconds"
    assert found[(last_success, audit)] == succeeded.timestamp()
    assert found[("tinedy_scheduled_run_failures", audit)] == 2
    assert (found[(last_success, never)], found[("tinedy_scheduled_run_failures", never)]) == (0, 0)


async def test_a_fresh_server_exposes_its_counters_and_scheduled_jobs_at_zero(
    database_url: str, world: World, tmp_path: Path
) -> None:
    """Before any event, a rate() over a counter that has no series sees nothing: a fresh
    server (two workers sharing their samples through files) shows each known series at 0."""
    settings = {"WORKERS": "2", "PHOTO_PROCESSING_WORKERS": "0", "PUSH_SENDERS": "0"}
    settings["PUSH_SERVICE_HOSTS"] = ",".join(HOSTS)
    process, base = await start_instance(
        database_url, tmp_path / "app", tmp_path / "app.log", settings
    )
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            found = samples((await client.get("/metrics")).text)
    finally:
        stop([process], timeout=STOP_SECONDS)
    throttled = [*RouteClass, "sign_in_failures", "live_streams"]
    conflicts = {
        row.reason
        for row in CONFLICT_TABLE.values()
        if row.answer == "conflicts" and row.reason is not None
    }
    results = {push_result(status) for status in (201, 404, 413, 429, 500, 400, None)}
    expected = (
        [("tinedy_throttled_requests_total", {"route_class": c}) for c in throttled]
        + [("tinedy_sync_conflicts_total", {"code": code}) for code in sorted(conflicts)]
        + [
            ("tinedy_push_results_total", {"push_service": host, "result": result})
            for host in HOSTS
            for result in sorted(results)
        ]
        + [
            (name, {"scheduled_job": job})
            for name in (
                "tinedy_scheduled_run_last_success_timestamp_seconds",
                "tinedy_scheduled_run_failures",
            )
            for job in (PURGE_LOCATIONS, COMPACT_CHANGES, PURGE_AUDIT)
        ]
    )
    missing = [
        (name, labels)
        for name, labels in expected
        if found.get((name, frozenset(labels.items()))) != 0
    ]
    assert missing == []


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))


def _registry_value(name: str, labels: dict[str, str]) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def _push_delivery(due: datetime) -> PushDelivery:
    return PushDelivery(
        id=uuid.uuid4(),
        notification_id=uuid.uuid4(),
        subscription_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        push_service="fcm.googleapis.com",
        state="queued",
        next_attempt_at=due,
        expires_at=due + timedelta(days=1),
        queued_at=due,
    )
