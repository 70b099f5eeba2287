"""Webhooks: the CRM's endpoints (made, changed, rotated, deleted), the planning of new
events into deliveries, and the delivery log.

Planning reads the change log after the plan cursor, which one instance at a time holds
locked (as job pushes are planned), so each event is planned once across instances and
restarts; one delivery row per endpoint and event (a unique index) keeps it so even if a
planner's work were repeated. The delivery row stores the body, so what is sent does not
depend on when it is sent, and compaction of the log cannot take a queued event away.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from piccolo.columns import Column

from server.audit import service as audit
from server.changes import queries as change_queries
from server.core.clock import local_time
from server.core.inputs import as_uuid
from server.db.engine import write_transaction
from server.errors import ValidationFailed, WebhookNotFound
from server.integration.events import TYPE_NAMES, EventLinks, build_events, event_type
from server.webhooks import plans
from server.webhooks import queries as webhook_queries
from server.webhooks.guard import UrlRefused, allowed_origins, check_url
from server.webhooks.schemas import NewWebhook, WebhookChanges
from server.webhooks.signing import new_secret

PLAN_BATCH = 500


async def create_webhook(
    new: NewWebhook, origins: tuple[str, ...], by: audit.AuditActor = audit.SYSTEM
) -> dict[str, Any]:
    """A new endpoint: ``{"id", "secret"}`` (the secret is shown this once); audited."""
    events = known_types(new.events)
    await _check(new.url, origins)
    webhook_id = str(uuid.uuid4())
    row = {
        "id": webhook_id,
        "url": new.url,
        "events": events,
        "description": new.description,
        "secret": new_secret(),
        "created_at": datetime.now(UTC),
    }
    async with write_transaction():
        await webhook_queries.ensure_plan_cursor(await change_queries.newest_change_id())
        await webhook_queries.insert_endpoint(row)
        detail = {"origin": _origin(new.url), "events": events}
        await _audit(by, "webhook.created", webhook_id, detail)
    return {"id": webhook_id, "secret": row["secret"]}


async def list_webhooks() -> dict[str, Any]:
    return {"webhooks": [webhook_record(row) for row in await webhook_queries.live_endpoints()]}


async def get_webhook(webhook_id: str) -> dict[str, Any]:
    return {"webhook": webhook_record(await _endpoint(webhook_id))}


async def change_webhook(
    webhook_id: str,
    changes: WebhookChanges,
    origins: tuple[str, ...],
    by: audit.AuditActor = audit.SYSTEM,
) -> dict[str, Any]:
    """Apply a PATCH; re-enabling starts over (not failing, queued deliveries due now)."""
    await _endpoint(webhook_id)
    events = known_types(changes.events) if changes.events is not None else None
    if changes.url is not None:
        await _check(changes.url, origins)
    values: dict[Column | str, Any] = {
        name: value
        for name, value in (
            ("url", changes.url),
            ("events", events),
            ("description", changes.description),
        )
        if value is not None
    }
    now = datetime.now(UTC)
    if changes.enabled is not None:
        values.update(disabled_at=None if changes.enabled else now, failing_since=None)
    async with write_transaction():
        if values and not await webhook_queries.update_endpoint(webhook_id, values):
            raise WebhookNotFound()
        if changes.enabled:
            await webhook_queries.make_due_now(webhook_id, now)
        if values:
            fields = sorted(str(name) for name in values)
            origin = _origin(changes.url) if changes.url else None
            await _audit(by, "webhook.changed", webhook_id, {"fields": fields, "origin": origin})
    return await get_webhook(webhook_id)


async def delete_webhook(webhook_id: str, by: audit.AuditActor = audit.SYSTEM) -> None:
    """Gone at once: nothing more is planned or sent to it (its log stays readable to us)."""
    async with write_transaction():
        await _endpoint(webhook_id)
        await webhook_queries.update_endpoint(webhook_id, {"deleted_at": datetime.now(UTC)})
        await webhook_queries.fail_queued_deliveries(webhook_id, "webhook deleted")
        await _audit(by, "webhook.deleted", webhook_id)


async def rotate_secret(
    webhook_id: str, overlap_hours: float, by: audit.AuditActor = audit.SYSTEM
) -> dict[str, Any]:
    """A new secret; the old one signs beside it for ``overlap_hours``."""
    async with write_transaction():
        endpoint = await _endpoint(webhook_id)
        secret = new_secret()
        until = datetime.now(UTC) + timedelta(hours=overlap_hours) if overlap_hours else None
        await webhook_queries.update_endpoint(
            webhook_id,
            {
                "secret": secret,
                "previous_secret": endpoint["secret"],
                "previous_secret_until": until,
            },
        )
        await _audit(by, "webhook.secret_rotated", webhook_id)
    return {"secret": secret, "previousSecretUntil": until}


async def list_deliveries(webhook_id: str, state: str | None, limit: int) -> dict[str, Any]:
    await _endpoint(webhook_id)
    rows = await webhook_queries.deliveries_of(webhook_id, state, limit)
    return {"deliveries": [delivery_record(row) for row in rows]}


async def replay_delivery(webhook_id: str, delivery_id: str) -> dict[str, Any]:
    """Send a delivery again (it keeps its ``webhook-id``); it waits behind the job's
    earlier queued events, and while the endpoint is disabled."""
    async with write_transaction():
        await _endpoint(webhook_id)
        now = datetime.now(UTC)
        if not as_uuid(delivery_id) or not await webhook_queries.requeue_delivery(
            webhook_id, delivery_id, now
        ):
            raise WebhookNotFound()
    row = await webhook_queries.get_delivery(webhook_id, delivery_id)
    assert row is not None
    return {"delivery": delivery_record(row)}


async def unplanned_after() -> int | None:
    """The change id after which the log holds events still to plan into deliveries, while
    any webhook is there to receive them (None: compaction need not wait for webhooks)."""
    if not await webhook_queries.live_endpoints():
        return None
    return await webhook_queries.plan_cursor()


async def plan_deliveries(links: EventLinks, now: float) -> int | None:
    """Turn the log rows after the plan cursor into deliveries, one batch at a time; how many
    rows it read (None: no cursor yet, or another instance planned or is planning them).

    The events are built before the write transaction (a completed job's photos and visits
    are several reads, and SQLite's write lock would hold every writer meanwhile); the
    transaction then takes the cursor and writes the batch only if no one moved it since.
    """
    cursor = await webhook_queries.plan_cursor()
    if cursor is None:
        return None
    rows = await change_queries.log_rows_after(cursor, PLAN_BATCH)
    if not rows:
        return 0
    endpoints = [e for e in await webhook_queries.live_endpoints() if e["disabled_at"] is None]
    wanted = {name for endpoint in endpoints for name in endpoint["events"]}
    events = [row for row in rows if event_type(row) in wanted]
    built = await build_events(events, links, now)
    at = datetime.now(UTC)
    async with write_transaction():
        if await webhook_queries.lock_plan_cursor() != cursor:
            return None
        await webhook_queries.insert_deliveries(
            [
                delivery
                for row, event in zip(events, built, strict=True)
                for delivery in plans.deliveries_for(row, event, endpoints, at)
            ]
        )
        await webhook_queries.move_plan_cursor(int(rows[-1]["id"]))
    return len(rows)


async def disabled_webhooks() -> int:
    """How many endpoints were disabled after failing too long (for /readyz: one count)."""
    return await webhook_queries.disabled_endpoint_count()


async def webhook_health() -> tuple[int, dict[str, int]]:
    """Disabled endpoints, and deliveries by state (for /metrics)."""
    return await disabled_webhooks(), await webhook_queries.deliveries_by_state()


def webhook_record(row: dict[str, Any]) -> dict[str, Any]:
    """What the CRM reads of an endpoint: never its secrets."""
    return {
        "id": str(row["id"]),
        "url": row["url"],
        "events": list(row["events"]),
        "description": row["description"],
        "enabled": row["disabled_at"] is None,
        "createdAt": _when(row["created_at"]),
        "failingSince": _when(row["failing_since"]),
        "disabledAt": _when(row["disabled_at"]),
        "previousSecretUntil": _when(row["previous_secret_until"]),
    }


def delivery_record(row: dict[str, Any]) -> dict[str, Any]:
    queued = row["state"] == webhook_queries.QUEUED
    return {
        "id": str(row["id"]),
        "eventId": str(row["event_id"]),
        "eventType": row["event_type"],
        "state": row["state"],
        "attempts": row["attempts"],
        "lastStatus": row["last_status"],
        "lastError": row["last_error"],
        "nextAttemptAt": _when(row["next_attempt_at"]) if queued else None,
        "createdAt": _when(row["created_at"]),
        "deliveredAt": _when(row["delivered_at"]),
    }


async def _endpoint(webhook_id: str) -> dict[str, Any]:
    row = await webhook_queries.get_endpoint(webhook_id) if as_uuid(webhook_id) else None
    if row is None:
        raise WebhookNotFound()
    return row


def known_types(names: list[str]) -> list[str]:
    """The event types a webhook subscribes to, once each; 422 naming ``events`` for one
    that does not exist."""
    unknown = sorted(set(names) - set(TYPE_NAMES))
    if unknown:
        known = ", ".join(TYPE_NAMES)
        raise ValidationFailed([("events", f"unknown types {unknown}; known: {known}")])
    return sorted(set(names))


async def _check(url: str, origins: tuple[str, ...]) -> None:
    try:
        await check_url(url, allowed_origins(origins))
    except UrlRefused as exc:
        raise ValidationFailed([("url", str(exc))]) from exc


async def _audit(
    by: audit.AuditActor, action: str, webhook_id: str, detail: dict[str, Any] | None = None
) -> None:
    await audit.record(by, action, "webhook", webhook_id, detail=detail)


def _origin(url: str) -> str:
    """Where a webhook points, without the path or query (which may carry the CRM's token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _when(value: datetime | None) -> str | None:
    return local_time(value) if value is not None else None
