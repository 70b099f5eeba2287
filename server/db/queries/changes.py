"""The append-only change log and the per-scope feed versions it drives."""

from __future__ import annotations

from typing import Any

from server.db.engine import lock_change_log
from server.db.tables import ChangeLog, FeedVersion


async def append_changes(rows: list[dict[str, Any]], scopes: set[str]) -> int:
    """Append ``rows`` and raise every scope in ``scopes`` to the newest id; returns that id.

    Must run inside a write transaction, so the log, the versions and the change they describe
    commit together or not at all.
    """
    await lock_change_log()
    inserted = (
        await ChangeLog.insert(*(ChangeLog(**row) for row in rows)).returning(ChangeLog.id).run()
    )
    newest = max(int(row["id"]) for row in inserted)
    if not scopes:
        return newest
    await (
        FeedVersion.insert(*(FeedVersion(scope=scope, version=newest) for scope in scopes))
        .on_conflict(target=FeedVersion.scope, action="DO UPDATE", values=[FeedVersion.version])
        .run()
    )
    return newest


async def changes_after(after_id: int, limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await ChangeLog.select(
            ChangeLog.id,
            ChangeLog.kind,
            ChangeLog.branch_id,
            ChangeLog.assignee_id,
            ChangeLog.previous_assignee_id,
            ChangeLog.device_id,
        )
        .where(ChangeLog.id > after_id)
        .order_by(ChangeLog.id)
        .limit(limit)
        .run()
    )
    return rows


async def newest_change_id() -> int:
    row = await ChangeLog.select(ChangeLog.id).order_by(ChangeLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


async def all_feed_versions() -> dict[str, int]:
    rows = await FeedVersion.select().run()
    return {row["scope"]: int(row["version"]) for row in rows}
