"""The trail is append-only in the database itself, on both engines: a raw UPDATE or DELETE of
an event is refused and leaves it as it was; only the retention purge deletes, and only what
lies before its horizon, which moves forward alone and never past the shortest retention."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from server.audit import service as audit
from server.db.engine import write_transaction
from server.db.tables import AuditEvent, AuditPurgeHorizon
from server.ops.retention import purge_audit_trail
from tests.audit.conftest import events_on
from tests.world import World

REFUSED = (sqlite3.IntegrityError, asyncpg.exceptions.RaiseError)
RETENTION_DAYS = 400


async def add_event(target: str, occurred_at: datetime | None = None) -> dict[str, Any]:
    """An event on ``target``, as the product writes one (or backdated, as an old one is)."""
    if occurred_at is None:
        async with write_transaction():
            await audit.record(audit.SYSTEM, "job.updated", "job", target, detail={"n": 1})
    else:
        row = AuditEvent(
            occurred_at=occurred_at,
            actor_kind="system",
            action="job.updated",
            target_kind="job",
            target_id=target,
        )
        await AuditEvent.insert(row).run()
    [event] = await events_on(target)
    return event


async def horizon() -> datetime:
    [row] = await AuditPurgeHorizon.select()
    purged_before: datetime = row["purged_before"]
    return purged_before


async def test_an_event_can_be_neither_changed_nor_deleted(world: World, engine_kind: str) -> None:
    target = f"kept-{uuid.uuid4().hex[:8]}"
    event = await add_event(target)
    with pytest.raises(REFUSED, match="append-only: an event is never changed"):
        await AuditEvent.raw(
            "UPDATE audit_event SET action = 'job.created', target_id = 'other' WHERE id = {}",
            event["id"],
        )
    with pytest.raises(REFUSED, match="append-only: only the retention purge deletes"):
        await AuditEvent.raw("DELETE FROM audit_event WHERE id = {}", event["id"])
    with pytest.raises(REFUSED, match="append-only: only the retention purge deletes"):
        await AuditEvent.delete().where(AuditEvent.target_id == target).run()
    # Writing an event's id again: SQLite's REPLACE deletes without delete triggers, and
    # PostgreSQL's upsert updates.
    rewrite = (
        "INSERT OR REPLACE INTO audit_event (id, occurred_at, actor_kind, action, target_kind,"
        " target_id) VALUES ({}, {}, 'system', 'job.created', 'job', 'other')"
        if engine_kind == "sqlite"
        else "INSERT INTO audit_event (id, occurred_at, actor_kind, action, target_kind,"
        " target_id) VALUES ({}, {}, 'system', 'job.created', 'job', 'other')"
        " ON CONFLICT (id) DO UPDATE SET action = EXCLUDED.action"
    )
    with pytest.raises(REFUSED, match="append-only: an event is never changed"):
        await AuditEvent.raw(rewrite, event["id"], event["occurred_at"])
    assert await events_on(target) == [event]


async def test_the_purge_horizon_moves_forward_only_and_never_past_the_shortest_retention(
    world: World,
) -> None:
    before = await horizon()
    with pytest.raises(REFUSED, match="only moves forward"):
        await AuditPurgeHorizon.raw(
            "UPDATE audit_purge_horizon SET purged_before = {}", before - timedelta(days=1)
        )
    too_late = datetime.now(UTC) - timedelta(days=28)
    with pytest.raises(REFUSED, match="may not pass the shortest retention"):
        await AuditPurgeHorizon.raw("UPDATE audit_purge_horizon SET purged_before = {}", too_late)
    with pytest.raises(REFUSED, match="holds one row"):
        await AuditPurgeHorizon.raw(
            "INSERT INTO audit_purge_horizon (id, purged_before) VALUES (2, {})", too_late
        )
    with pytest.raises(REFUSED, match="holds one row"):
        await AuditPurgeHorizon.raw("DELETE FROM audit_purge_horizon")
    assert await AuditPurgeHorizon.select() == [{"id": 1, "purged_before": before}]


async def test_the_retention_purge_drops_what_is_past_retention_and_keeps_the_rest(
    world: World,
) -> None:
    now = datetime.now(UTC)
    ages = {"ancient": 500, "expired": RETENTION_DAYS + 1, "due-soon": RETENTION_DAYS - 1}
    tag = uuid.uuid4().hex[:8]
    events = {
        name: await add_event(f"{name}-{tag}", now - timedelta(days=days))
        for name, days in ages.items()
    }
    events["recent"] = await add_event(f"recent-{tag}")

    dropped = await purge_audit_trail(RETENTION_DAYS)

    assert dropped >= 2
    for name, event in events.items():
        kept = await events_on(event["target_id"])
        assert kept == ([] if name in ("ancient", "expired") else [event]), name
    cutoff = await horizon()
    assert (
        now - timedelta(days=RETENTION_DAYS)
        <= cutoff
        < datetime.now(UTC) - timedelta(days=RETENTION_DAYS - 1)
    )
    with pytest.raises(REFUSED, match="only the retention purge deletes"):
        await AuditEvent.raw("DELETE FROM audit_event WHERE id = {}", events["due-soon"]["id"])
    assert await events_on(events["due-soon"]["target_id"]) == [events["due-soon"]]
    purges = await AuditEvent.select().where(AuditEvent.action == "retention.purge-audit")
    assert purges and purges[-1]["actor_kind"] == "system"

    assert await purge_audit_trail(RETENTION_DAYS) == 0, "a second run finds nothing to drop"
    assert await horizon() >= cutoff
