"""The audit trail: who did what to which job, device or person, and when.

A service records an act with :func:`record` inside the write transaction of the act itself,
so the two commit together: a failed act leaves no row and no act happens without one. The
trail is append-only, and the database holds it so: its triggers refuse any update, and any
delete of an event not older than the purge horizon, which only the retention purge moves
(:func:`advance_purge_horizon`, then :func:`purge_expired`; ``AUDIT_RETENTION_DAYS``). Rows
hold ids, never names, addresses or coordinates, so a person's erasure leaves their trail
true and free of what was erased.

Who acted is an :class:`AuditActor`: a person (by their user id), the office CRM (by its API
key's id) or the product itself (a schedule, the command line). ``request_id`` ties an event
to the request's log lines; the endpoint passes it down as a plain value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from server.audit import queries
from server.core.clock import local_time
from server.db.engine import current_engine, write_transaction

ActorKind = Literal["user", "api_key", "system"]
TargetKind = Literal["job", "device", "user", "team", "api_key", "webhook", "notification", "run"]
MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class AuditActor:
    kind: ActorKind
    id: str | None = None
    request_id: str | None = None

    @classmethod
    def user(cls, user_id: str, request_id: str | None = None) -> AuditActor:
        return cls("user", user_id, request_id)

    @classmethod
    def api_key(cls, key_id: str, request_id: str | None = None) -> AuditActor:
        return cls("api_key", key_id, request_id)


SYSTEM = AuditActor("system")


class NotInTransaction(RuntimeError):
    """An audit event written outside the act's transaction could outlive a failed act."""


@dataclass(frozen=True, slots=True)
class Event:
    """One act to record: ``action`` such as ``job.assigned``; ``detail`` ids and codes, no
    personal data."""

    action: str
    target_kind: TargetKind
    target_id: str
    branch_id: object = None
    detail: dict[str, Any] | None = None


async def record(
    actor: AuditActor,
    action: str,
    target_kind: TargetKind,
    target_id: str,
    *,
    branch_id: object = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Within the act's write transaction: append one event."""
    await record_all(actor, [Event(action, target_kind, target_id, branch_id, detail)])


async def record_all(actor: AuditActor, events: Sequence[Event]) -> None:
    """Within the acts' write transaction: append their events, in order, in one insert (a
    batch of the CRM's jobs is one transaction of many acts)."""
    if not events:
        return
    if current_engine().current_transaction.get() is None:
        raise NotInTransaction(f"{events[0].action} must be recorded inside its own transaction")
    await queries.insert_events([_row(actor, event) for event in events])


def _row(actor: AuditActor, event: Event) -> dict[str, Any]:
    return {
        "actor_kind": actor.kind,
        "actor_id": actor.id,
        "action": event.action,
        "target_kind": event.target_kind,
        "target_id": str(event.target_id),
        "branch_id": None if event.branch_id is None else str(event.branch_id),
        "request_id": actor.request_id,
        "detail": event.detail or {},
    }


async def audit_page(
    target_kind: str | None,
    target_id: str | None,
    actor_id: str | None,
    after: int | None,
    limit: int,
) -> dict[str, Any]:
    """A page of the trail, newest first; ``next`` is the ``after`` of the page after it."""
    rows = await queries.events_page(target_kind, target_id, actor_id, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "events": [event_record(row) for row in rows],
        "next": int(rows[-1]["id"]) if more else None,
    }


async def events_about(user_id: str, device_ids: list[str]) -> list[dict[str, Any]]:
    """Every event about the person or their devices ``device_ids``, by them, or whose
    detail names them (for their data export)."""
    return [event_record(row) for row in await queries.events_about_user(user_id, device_ids)]


async def advance_purge_horizon(retention_days: int, now: datetime | None = None) -> datetime:
    """In a transaction of its own: let the database delete events older than
    ``retention_days``, and no others; returns that cutoff for :func:`purge_expired`. The
    database refuses a horizon later than the shortest retention the setting allows."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    async with write_transaction():
        await queries.advance_purge_horizon(cutoff)
    return cutoff


async def purge_expired(cutoff: datetime) -> int:
    """Within a write transaction, after :func:`advance_purge_horizon`: drop events older
    than ``cutoff``; how many."""
    return await queries.purge_events(cutoff)


def event_record(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "occurredAt": local_time(row["occurred_at"]),
        "actorKind": row["actor_kind"],
        "actorId": None if row["actor_id"] is None else str(row["actor_id"]),
        "action": row["action"],
        "targetKind": row["target_kind"],
        "targetId": row["target_id"],
        "branchId": None if row["branch_id"] is None else str(row["branch_id"]),
        "requestId": row["request_id"],
        "detail": row["detail"],
    }
