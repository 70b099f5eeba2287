"""Queries on webhook endpoints, their deliveries and the plan cursor.

Deliveries are a queue claimed under a lease, like the push queue: the sender reads the queue
(:func:`queued_deliveries`), picks what may go (``plans.claimable``: never one behind a
queued earlier event of its job and endpoint), and claims those still free; on PostgreSQL
with ``FOR UPDATE SKIP LOCKED`` (two senders never take the same one), SQLite's one writer
does the same. A settlement names its lease, so a sender whose lease lapsed cannot overwrite
the one that took the delivery up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from piccolo.columns import Column
from piccolo.query.functions.aggregate import Count

from server.db.engine import current_engine
from server.db.tables import WebhookDelivery, WebhookEndpoint, WebhookPlanCursor

QUEUED, DELIVERED, FAILED = "queued", "delivered", "failed"
CURSOR_ROW = 1
LIVE = WebhookEndpoint.deleted_at.is_null()


def _skip_locked(query: Any, table: Any) -> Any:
    if current_engine().engine_type == "postgres":
        return query.lock_rows("UPDATE", skip_locked=True, of=(table,))
    return query


async def insert_endpoint(row: dict[str, Any]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = (
        await WebhookEndpoint.insert(WebhookEndpoint(**row))
        .returning(*WebhookEndpoint.all_columns())
        .run()
    )
    return _loaded(rows[0])


async def live_endpoints() -> list[dict[str, Any]]:
    rows = (
        await WebhookEndpoint.select()
        .where(LIVE)
        .order_by(WebhookEndpoint.created_at)
        .output(load_json=True)
        .run()
    )
    return [_loaded(row) for row in rows]


async def get_endpoint(endpoint_id: str) -> dict[str, Any] | None:
    row = (
        await WebhookEndpoint.select()
        .where((WebhookEndpoint.id == endpoint_id) & LIVE)
        .first()
        .output(load_json=True)
        .run()
    )
    return _loaded(row) if row else None


async def update_endpoint(endpoint_id: str, values: dict[Column | str, Any]) -> bool:
    rows = (
        await WebhookEndpoint.update(values)
        .where((WebhookEndpoint.id == endpoint_id) & LIVE)
        .returning(WebhookEndpoint.id)
        .run()
    )
    return bool(rows)


async def endpoints_by_id(endpoint_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Live endpoints among ``endpoint_ids``, secrets included (the sender signs with them)."""
    if not endpoint_ids:
        return {}
    rows = (
        await WebhookEndpoint.select()
        .where(WebhookEndpoint.id.is_in(endpoint_ids) & LIVE)
        .output(load_json=True)
        .run()
    )
    return {str(row["id"]): _loaded(row) for row in rows}


async def fail_queued_deliveries(endpoint_id: str, reason: str) -> None:
    """The endpoint is gone: what still waits for it can never be delivered."""
    await (
        WebhookDelivery.update({WebhookDelivery.state: FAILED, WebhookDelivery.last_error: reason})
        .where((WebhookDelivery.endpoint_id == endpoint_id) & (WebhookDelivery.state == QUEUED))
        .run()
    )


async def make_due_now(endpoint_id: str, now: datetime) -> None:
    """Queued deliveries of a re-enabled endpoint go at once, not after their backoff."""
    await (
        WebhookDelivery.update({WebhookDelivery.next_attempt_at: now})
        .where((WebhookDelivery.endpoint_id == endpoint_id) & (WebhookDelivery.state == QUEUED))
        .run()
    )


async def ensure_plan_cursor(newest_change_id: int) -> None:
    """Within a write transaction: the plan cursor, made at the newest change if missing
    (events before the first webhook are never planned)."""
    await (
        WebhookPlanCursor.insert(WebhookPlanCursor(id=CURSOR_ROW, last_change_id=newest_change_id))
        .on_conflict(action="DO NOTHING")
        .run()
    )


async def lock_plan_cursor() -> int | None:
    """Within a write transaction: the plan cursor, locked; None when there is none yet (no
    webhook was ever made) or another instance holds it (it is planning right now)."""
    query = WebhookPlanCursor.select().where(WebhookPlanCursor.id == CURSOR_ROW)
    row = await _skip_locked(query, WebhookPlanCursor).first().run()
    return int(row["last_change_id"]) if row is not None else None


async def move_plan_cursor(change_id: int) -> None:
    await (
        WebhookPlanCursor.update({WebhookPlanCursor.last_change_id: change_id})
        .where(WebhookPlanCursor.id == CURSOR_ROW)
        .run()
    )


async def plan_cursor() -> int | None:
    row = await WebhookPlanCursor.select().where(WebhookPlanCursor.id == CURSOR_ROW).first().run()
    return int(row["last_change_id"]) if row is not None else None


async def insert_deliveries(rows: list[dict[str, Any]]) -> None:
    """One per endpoint and event: a row planned twice (a lapsed planner) is kept once."""
    if rows:
        await (
            WebhookDelivery.insert(*[WebhookDelivery(**row) for row in rows])
            .on_conflict(
                target=(WebhookDelivery.endpoint_id, WebhookDelivery.event_id),
                action="DO NOTHING",
            )
            .run()
        )


async def enabled_endpoint_ids() -> list[str]:
    rows = (
        await WebhookEndpoint.select(WebhookEndpoint.id)
        .where(LIVE & WebhookEndpoint.disabled_at.is_null())
        .run()
    )
    return [str(row["id"]) for row in rows]


async def any_due_delivery(now: datetime, endpoint_ids: list[str]) -> bool:
    """A cheap look (no write lock) before claiming."""
    if not endpoint_ids:
        return False
    found: bool = (
        await WebhookDelivery.exists()
        .where(
            (WebhookDelivery.state == QUEUED)
            & (WebhookDelivery.next_attempt_at <= now)
            & WebhookDelivery.endpoint_id.is_in(endpoint_ids)
        )
        .run()
    )
    return found


async def queued_deliveries(endpoint_ids: list[str]) -> list[dict[str, Any]]:
    """The queue of ``endpoint_ids`` in event order, only what claiming needs to know."""
    if not endpoint_ids:
        return []
    rows: list[dict[str, Any]] = (
        await WebhookDelivery.select(
            WebhookDelivery.id,
            WebhookDelivery.endpoint_id,
            WebhookDelivery.job_id,
            WebhookDelivery.event_id,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.lease_until,
        )
        .where((WebhookDelivery.state == QUEUED) & WebhookDelivery.endpoint_id.is_in(endpoint_ids))
        .order_by(WebhookDelivery.event_id)
        .run()
    )
    return rows


async def claim_deliveries(
    delivery_ids: list[str], owner: str, now: datetime, lease_until: datetime
) -> list[dict[str, Any]]:
    """Within a write transaction: those of ``delivery_ids`` still queued, due, and under no
    live lease (another sender may have taken one, or tried and failed it, meanwhile), for
    ``owner`` until ``lease_until``."""
    if not delivery_ids:
        return []
    free = (
        WebhookDelivery.id.is_in(delivery_ids)
        & (WebhookDelivery.state == QUEUED)
        & (WebhookDelivery.next_attempt_at <= now)
        & (WebhookDelivery.lease_until.is_null() | (WebhookDelivery.lease_until < now))
    )
    query = WebhookDelivery.select(WebhookDelivery.id).where(free)
    picked = [row["id"] for row in await _skip_locked(query, WebhookDelivery).run()]
    if not picked:
        return []
    rows: list[dict[str, Any]] = (
        await WebhookDelivery.update(
            {
                WebhookDelivery.lease_owner: owner,
                WebhookDelivery.lease_until: lease_until,
                WebhookDelivery.attempts: WebhookDelivery.attempts + 1,
            }
        )
        .where(WebhookDelivery.id.is_in(picked))
        .returning(*WebhookDelivery.all_columns())
        .run()
    )
    return [_loaded(row) for row in rows]


async def settle_delivery(delivery_id: str, owner: str, values: dict[Column | str, Any]) -> bool:
    """Record a try's outcome; False if ``owner`` no longer holds the lease."""
    rows = (
        await WebhookDelivery.update({**values, "lease_owner": None, "lease_until": None})
        .where(
            (WebhookDelivery.id == delivery_id)
            & (WebhookDelivery.lease_owner == owner)
            & (WebhookDelivery.state == QUEUED)
        )
        .returning(WebhookDelivery.id)
        .run()
    )
    return bool(rows)


async def note_endpoint_failure(endpoint_id: str, now: datetime) -> datetime | None:
    """A try failed: the endpoint has been failing since its first failure in a row (None:
    it is gone)."""
    await (
        WebhookEndpoint.update({WebhookEndpoint.failing_since: now})
        .where((WebhookEndpoint.id == endpoint_id) & WebhookEndpoint.failing_since.is_null())
        .run()
    )
    row = (
        await WebhookEndpoint.select(WebhookEndpoint.failing_since)
        .where(WebhookEndpoint.id == endpoint_id)
        .first()
        .run()
    )
    return row["failing_since"] if row else None


async def note_endpoints_working(endpoint_ids: list[str]) -> None:
    if endpoint_ids:
        await (
            WebhookEndpoint.update({WebhookEndpoint.failing_since: None})
            .where(
                WebhookEndpoint.id.is_in(endpoint_ids) & WebhookEndpoint.failing_since.is_not_null()
            )
            .run()
        )


async def disable_endpoint(endpoint_id: str, now: datetime) -> None:
    await (
        WebhookEndpoint.update({WebhookEndpoint.disabled_at: now})
        .where((WebhookEndpoint.id == endpoint_id) & WebhookEndpoint.disabled_at.is_null())
        .run()
    )


async def deliveries_of(endpoint_id: str, state: str | None, limit: int) -> list[dict[str, Any]]:
    """Newest first: the delivery log as the CRM reads it."""
    query = WebhookDelivery.select(*LOG_COLUMNS).where(WebhookDelivery.endpoint_id == endpoint_id)
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    rows: list[dict[str, Any]] = (
        await query.order_by(WebhookDelivery.event_id, ascending=False).limit(limit).run()
    )
    return rows


async def get_delivery(endpoint_id: str, delivery_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await WebhookDelivery.select(*LOG_COLUMNS)
        .where((WebhookDelivery.id == delivery_id) & (WebhookDelivery.endpoint_id == endpoint_id))
        .first()
        .run()
    )
    return row


async def requeue_delivery(endpoint_id: str, delivery_id: str, now: datetime) -> bool:
    """A manual replay: queued again, due now, whatever became of it before."""
    rows = (
        await WebhookDelivery.update(
            {
                WebhookDelivery.state: QUEUED,
                WebhookDelivery.next_attempt_at: now,
                WebhookDelivery.lease_owner: None,
                WebhookDelivery.lease_until: None,
                WebhookDelivery.delivered_at: None,
            }
        )
        .where((WebhookDelivery.id == delivery_id) & (WebhookDelivery.endpoint_id == endpoint_id))
        .returning(WebhookDelivery.id)
        .run()
    )
    return bool(rows)


async def forget_settled_deliveries(created_before: datetime) -> int:
    """The delivery log keeps settled deliveries as long as the change log keeps history."""
    rows = (
        await WebhookDelivery.delete()
        .where((WebhookDelivery.state != QUEUED) & (WebhookDelivery.created_at < created_before))
        .returning(WebhookDelivery.id)
        .run()
    )
    return len(rows)


async def deliveries_by_state() -> dict[str, int]:
    """How many deliveries are in each state, and how many queued ones were tried already
    (``retrying``)."""
    rows = (
        await WebhookDelivery.select(WebhookDelivery.state, Count(alias="count"))
        .group_by(WebhookDelivery.state)
        .run()
    )
    counts = {str(row["state"]): int(row["count"]) for row in rows}
    counts["retrying"] = int(
        await WebhookDelivery.count()
        .where((WebhookDelivery.state == QUEUED) & (WebhookDelivery.attempts > 0))
        .run()
    )
    return counts


async def disabled_endpoint_count() -> int:
    return int(
        await WebhookEndpoint.count().where(LIVE & WebhookEndpoint.disabled_at.is_not_null()).run()
    )


LOG_COLUMNS: tuple[Any, ...] = (
    WebhookDelivery.id,
    WebhookDelivery.event_id,
    WebhookDelivery.event_type,
    WebhookDelivery.state,
    WebhookDelivery.attempts,
    WebhookDelivery.last_status,
    WebhookDelivery.last_error,
    WebhookDelivery.next_attempt_at,
    WebhookDelivery.created_at,
    WebhookDelivery.delivered_at,
)


def _loaded(row: dict[str, Any]) -> dict[str, Any]:
    """JSON columns as values on both engines (``returning`` leaves them as text)."""
    for key in ("events", "body"):
        if isinstance(row.get(key), str):
            row[key] = orjson.loads(row[key])
    return row
