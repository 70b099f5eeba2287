"""Compacting the change log: a full download still finds every job, an older cursor is told
to reload, and an offline edit against a forgotten version is a conflict, not an overwrite.

Each run gets a database of its own: compaction rewrites history every other test relies on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.changes.queries import newest_change_id
from server.checkins.service import Geofence
from server.cluster.processes import drop_database
from server.core.access import Principal, Role
from server.db.engine import engine_for
from server.db.migrate import apply_migrations
from server.db.tables import ChangeLog
from server.jobs.service import job_summaries
from server.jobs.writes import update_job
from server.live.events import Event
from server.live.hub import LiveHub
from server.live.stream import live_events
from server.ops.retention import compact_change_log
from server.sync.changes_feed import changes_since
from server.sync.mutations import SyncBatch
from server.sync.service import sync_batch
from server.webhooks.queries import move_plan_cursor
from server.webhooks.schemas import NewWebhook
from server.webhooks.service import create_webhook, unplanned_after
from tests.conftest import fresh_database, make_settings
from tests.world import World, add_jobs, add_staff, build_world


@pytest.fixture
async def own_world(engine_kind: str, tmp_path: Path) -> AsyncIterator[World]:
    url = await fresh_database(engine_kind, tmp_path, "tinedy_compact")
    try:
        async with engine_for(make_settings(url, tmp_path)):
            await apply_migrations()
            yield await build_world()
    finally:
        if engine_kind == "postgres":
            await drop_database(url)


def principal(user: dict[str, str]) -> Principal:
    return Principal(
        user["id"], str(uuid.uuid4()), Role(user["role"]), user["branch"], user["team"]
    )


async def test_compaction_keeps_what_a_full_download_needs(own_world: World) -> None:
    giver, taker = await add_staff(own_world), await add_staff(own_world)
    moved, edited, untouched = (job["id"] for job in await add_jobs(giver, 3))
    await update_job(moved, {"assignee": taker["id"]}, "job.assigned")
    for n in range(5):
        await update_job(edited, {"notes": f"edit {n}"}, "job.updated")
    old_cursor = await newest_change_id() - 3

    horizon, dropped = await compact_change_log(1, now=datetime.now(UTC) + timedelta(days=2))

    assert horizon == await newest_change_id()
    assert dropped > 0
    assert await ChangeLog.count().where(ChangeLog.job_id == edited).run() == 1
    assert (await compact_change_log(1, now=datetime.now(UTC) + timedelta(days=2)))[1] == 0
    stale = await changes_since(principal(giver), old_cursor, 100)
    assert stale["reset"] is True and stale["changes"] == []
    full = await changes_since(principal(giver), 0, 100)
    assert full["reset"] is False
    assert sorted(j["id"] for j in full["changes"]) == sorted([edited, untouched])
    assert next(j for j in full["changes"] if j["id"] == edited)["notes"] == "edit 4"
    assert [j["id"] for j in (await changes_since(principal(taker), 0, 100))["changes"]] == [moved]
    current = await changes_since(principal(giver), horizon, 100)
    assert current["reset"] is False


async def test_an_edit_against_a_forgotten_version_is_a_conflict(own_world: World) -> None:
    staff = await add_staff(own_world)
    job = (await add_jobs(staff, 1))[0]["id"]
    await update_job(job, {"priority": "urgent"}, "job.updated")  # version 2: forgotten below
    await update_job(job, {"priority": "high"}, "job.updated")  # version 3: kept
    await compact_change_log(1, now=datetime.now(UTC) + timedelta(days=2))
    phone = principal(staff)
    now = datetime.now(UTC).isoformat()

    def edit(base: int, notes: str) -> SyncBatch:
        mutation = {"mutationId": notes, "jobId": job, "baseVersion": base, "clientTimestamp": now}
        return SyncBatch.model_validate(
            {"deviceId": "p", "deviceTime": now, "pendingUpdates": [mutation | {"notes": notes}]}
        )

    # With the whole history this would merge (only the priority changed); without it, the
    # server cannot know, so it keeps its state.
    stale = await sync_batch(phone, edit(1, "stale"), Geofence(150))
    assert [c["reason"] for c in stale["conflicts"]] == ["notes_changed"]
    fresh = await sync_batch(phone, edit(3, "fresh"), Geofence(150))
    assert fresh["synced"] == ["fresh"]


async def test_a_resume_older_than_the_log_gets_a_reset_event(own_world: World) -> None:
    staff = await add_staff(own_world)
    job = (await add_jobs(staff, 1))[0]["id"]
    await update_job(job, {"notes": "before"}, "job.updated")
    old = await newest_change_id() - 1
    await update_job(job, {"notes": "after"}, "job.updated")
    await compact_change_log(1, now=datetime.now(UTC) + timedelta(days=2))
    hub = LiveHub(job_summaries, queue_limit=8)
    hub.last_id = await newest_change_id()

    stream = live_events(hub, principal(staff), old, time.time() + 60, 0.05)
    async with aclosing(stream) as events:
        first = await anext(events)

    assert isinstance(first, Event)
    assert first.name == "reset" and first.id == hub.last_id


async def test_events_a_webhook_has_not_been_given_yet_are_kept(own_world: World) -> None:
    """Senders stopped for longer than the retention: what they have not planned stays in
    the log, so each webhook still gets every event at least once; once planned, it may go."""
    staff = await add_staff(own_world)
    job = (await add_jobs(staff, 1))[0]["id"]
    hook = NewWebhook(url="http://127.0.0.1:9/hooks", events=["job.status_changed"])
    await create_webhook(hook, ("http://127.0.0.1:9",))
    waiting_from = await unplanned_after()
    assert waiting_from is not None
    for n in range(3):
        await update_job(job, {"notes": f"while the senders were stopped {n}"}, "job.updated")
    later = datetime.now(UTC) + timedelta(days=2)

    horizon, _ = await compact_change_log(1, now=later)

    assert horizon <= waiting_from
    kept = await ChangeLog.count().where((ChangeLog.job_id == job) & (ChangeLog.id > horizon))
    assert kept == 3
    await move_plan_cursor(await newest_change_id())
    assert (await compact_change_log(1, now=later))[0] == await newest_change_id()
