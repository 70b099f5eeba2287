"""Queries on the audit trail: append, read a page, and the retention purge (the only delete,
allowed by the database only before the purge horizon)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.db.json_text import names_in
from server.db.tables import AuditEvent, AuditPurgeHorizon


async def insert_events(rows: list[dict[str, Any]]) -> None:
    await AuditEvent.insert(*(AuditEvent(**row) for row in rows)).run()


async def events_page(
    target_kind: str | None,
    target_id: str | None,
    actor_id: str | None,
    after: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Events matching the filters, newest first, older than id ``after`` when given."""
    query = AuditEvent.select()
    if target_kind is not None:
        query = query.where(AuditEvent.target_kind == target_kind)
    if target_id is not None:
        query = query.where(AuditEvent.target_id == target_id)
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    if after is not None:
        query = query.where(AuditEvent.id < after)
    rows: list[dict[str, Any]] = (
        await query.order_by(AuditEvent.id, ascending=False)
        .limit(limit)
        .output(load_json=True)
        .run()
    )
    return rows


async def events_about_user(user_id: str, device_ids: list[str]) -> list[dict[str, Any]]:
    """Every event about the person, oldest first: they are its target or its actor, its
    target is one of their devices (``device_ids``: a session an office revoked), or its
    detail names them (a job's crew before and after, a revoked session's owner; matched
    on its text, so it scans the trail, which a person's export, a rare act, may)."""
    about = (
        ((AuditEvent.target_kind == "user") & (AuditEvent.target_id == user_id))
        | (AuditEvent.actor_id == user_id)
        | names_in("audit_event.detail", user_id)
    )
    if device_ids:
        theirs = (AuditEvent.target_kind == "device") & AuditEvent.target_id.is_in(device_ids)
        about = about | theirs
    rows: list[dict[str, Any]] = (
        await AuditEvent.select().where(about).order_by(AuditEvent.id).output(load_json=True).run()
    )
    return rows


async def advance_purge_horizon(purged_before: datetime) -> None:
    """Move the purge horizon forward to ``purged_before``; one already past it stays (the
    database refuses to move it back)."""
    await (
        AuditPurgeHorizon.update({AuditPurgeHorizon.purged_before: purged_before})
        .where(AuditPurgeHorizon.purged_before < purged_before)
        .run()
    )


async def purge_events(occurred_before: datetime) -> int:
    """Within a write transaction, the horizon at or past ``occurred_before``: drop events
    older than it; how many."""
    rows = (
        await AuditEvent.delete()
        .where(AuditEvent.occurred_at < occurred_before)
        .returning(AuditEvent.id)
        .run()
    )
    return len(rows)
