"""Queries on notifications, their push deliveries, push preferences and the plan cursor.

Deliveries are a queue claimed under a lease, like the photo queue: on PostgreSQL due rows
are taken with ``FOR UPDATE SKIP LOCKED`` (instances never take the same one), SQLite's one
writer does the same; a settlement names its lease, so a sender whose lease lapsed cannot
overwrite the one that took the push up again. Scheduled notifications are taken the same
way, so each is fanned out once however many instances run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw

from server.db.engine import current_engine
from server.db.tables import (
    ChangeLog,
    Notification,
    PushDelivery,
    PushPlanCursor,
    PushPreference,
    PushSubscription,
    User,
)

QUEUED, ACCEPTED, FAILED = "queued", "accepted", "failed"
DISPLAYED, CLICKED = "displayed", "clicked"
SCHEDULED, SENT = "scheduled", "sent"
CURSOR_ROW = 1
OF_A_LIVE_SESSION = WhereRaw(
    "push_subscription.device_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM device"
    " WHERE device.id = push_subscription.device_id AND device.revoked_at IS NOT NULL)"
)
"""Subscriptions still worth a push: made by a session that is not revoked. Revoking a
session deletes its subscriptions (``push/subscriptions.py``); this holds too for one that
raced the revocation. A subscription that names no session (none is made so) is not sent to."""


def _skip_locked(query: Any, table: Any) -> Any:
    if current_engine().engine_type == "postgres":
        return query.lock_rows("UPDATE", skip_locked=True, of=(table,))
    return query


async def insert_notification(row: dict[str, Any]) -> None:
    await Notification.insert(Notification(**row)).run()


async def get_notification(notification_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Notification.select()
        .where(Notification.id == notification_id)
        .output(load_json=True)
        .first()
        .run()
    )
    return row


async def claim_due_notifications(now: datetime, limit: int) -> list[dict[str, Any]]:
    """Within a write transaction: scheduled notifications due by ``now``, locked for fan-out."""
    query = (
        Notification.select()
        .where((Notification.status == SCHEDULED) & (Notification.send_at <= now))
        .order_by(Notification.send_at)
        .limit(limit)
        .output(load_json=True)
    )
    rows: list[dict[str, Any]] = await _skip_locked(query, Notification).run()
    return rows


async def mark_sent(notification_ids: list[str]) -> None:
    if notification_ids:
        await (
            Notification.update({Notification.status: SENT})
            .where(Notification.id.is_in(notification_ids))
            .run()
        )


async def next_scheduled_at() -> datetime | None:
    row = (
        await Notification.select(Notification.send_at)
        .where(Notification.status == SCHEDULED)
        .order_by(Notification.send_at)
        .first()
        .run()
    )
    return row["send_at"] if row else None


async def recipients(user_ids: list[str]) -> list[dict[str, Any]]:
    """Active users among ``user_ids``, with what a push needs to know of them."""
    if not user_ids:
        return []
    rows: list[dict[str, Any]] = (
        await User.select(User.id, User.locale, User.role, User.branch, User.team)
        .where(User.id.is_in(user_ids) & (User.active == True))  # noqa: E712
        .run()
    )
    return rows


async def members(*, branch_id: str | None, team_id: str | None, role: str | None) -> list[str]:
    """Active users of a branch (every branch when None), of a team, or of a role."""
    query = User.select(User.id).where(User.active == True)  # noqa: E712
    if branch_id is not None:
        query = query.where(User.branch == branch_id)
    if team_id is not None:
        query = query.where(User.team == team_id)
    if role is not None:
        query = query.where(User.role == role)
    return [str(row["id"]) for row in await query.run()]


async def subscriptions_of(user_ids: list[str]) -> list[dict[str, Any]]:
    """The subscriptions of ``user_ids`` made by sessions still signed in."""
    if not user_ids:
        return []
    rows: list[dict[str, Any]] = (
        await PushSubscription.select()
        .where(PushSubscription.user_id.is_in(user_ids))
        .where(OF_A_LIVE_SESSION)
        .order_by(PushSubscription.created_at)
        .run()
    )
    return rows


async def insert_deliveries(rows: list[dict[str, Any]]) -> None:
    if rows:
        await PushDelivery.insert(*[PushDelivery(**row) for row in rows]).run()


async def any_due_delivery(now: datetime) -> bool:
    """A cheap look (no write lock) before claiming."""
    found: bool = (
        await PushDelivery.exists()
        .where((PushDelivery.state == QUEUED) & (PushDelivery.next_attempt_at <= now))
        .run()
    )
    return found


async def claim_deliveries(
    owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[dict[str, Any]]:
    """Within a write transaction: up to ``limit`` due deliveries (queued and due, none
    under a live lease) for ``owner`` until ``lease_until``."""
    due = (
        (PushDelivery.state == QUEUED)
        & (PushDelivery.next_attempt_at <= now)
        & ((PushDelivery.lease_until.is_null()) | (PushDelivery.lease_until < now))
    )
    query = (
        PushDelivery.select(PushDelivery.id)
        .where(due)
        .order_by(PushDelivery.next_attempt_at)
        .limit(limit)
    )
    picked = [row["id"] for row in await _skip_locked(query, PushDelivery).run()]
    if not picked:
        return []
    rows: list[dict[str, Any]] = (
        await PushDelivery.update(
            {
                PushDelivery.lease_owner: owner,
                PushDelivery.lease_until: lease_until,
                PushDelivery.attempts: PushDelivery.attempts + 1,
            }
        )
        .where(PushDelivery.id.is_in(picked))
        .returning(*PushDelivery.all_columns())
        .run()
    )
    return rows


async def notifications_by_id(notification_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not notification_ids:
        return {}
    rows = (
        await Notification.select()
        .where(Notification.id.is_in(notification_ids))
        .output(load_json=True)
        .run()
    )
    return {str(row["id"]): row for row in rows}


async def subscriptions_by_id(subscription_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Those of ``subscription_ids`` still to send to: one whose session was revoked since
    its push was queued is missing, and its push fails as unsubscribed."""
    if not subscription_ids:
        return {}
    rows = (
        await PushSubscription.select()
        .where(PushSubscription.id.is_in(subscription_ids))
        .where(OF_A_LIVE_SESSION)
        .run()
    )
    return {str(row["id"]): row for row in rows}


async def settle_delivery(delivery_id: str, owner: str, values: dict[Column | str, Any]) -> bool:
    """Record a send's outcome; False if ``owner`` no longer holds the lease (or a receipt
    already moved the delivery on)."""
    rows = (
        await PushDelivery.update({**values, "lease_owner": None, "lease_until": None})
        .where(
            (PushDelivery.id == delivery_id)
            & (PushDelivery.lease_owner == owner)
            & (PushDelivery.state == QUEUED)
        )
        .returning(PushDelivery.id)
        .run()
    )
    return bool(rows)


async def note_accepted(delivery_id: str, owner: str, now: datetime) -> None:
    """The push service took a push a receipt already moved on: keep when, free the lease."""
    await (
        PushDelivery.update(
            {PushDelivery.accepted_at: now, "lease_owner": None, "lease_until": None}
        )
        .where((PushDelivery.id == delivery_id) & (PushDelivery.lease_owner == owner))
        .run()
    )


async def forget_subscription(subscription_id: str, reason: str, now: datetime) -> None:
    """The push service says the subscription is gone: delete it, and fail what still
    waits for it (it can never arrive)."""
    await PushSubscription.delete().where(PushSubscription.id == subscription_id).run()
    await (
        PushDelivery.update(
            {
                PushDelivery.state: FAILED,
                PushDelivery.reason: reason,
                PushDelivery.failed_at: now,
                PushDelivery.lease_owner: None,
                PushDelivery.lease_until: None,
            }
        )
        .where((PushDelivery.subscription_id == subscription_id) & (PushDelivery.state == QUEUED))
        .run()
    )


async def prune_idle_subscriptions(seen_before: datetime) -> int:
    rows = (
        await PushSubscription.delete()
        .where(PushSubscription.last_seen_at < seen_before)
        .returning(PushSubscription.id)
        .run()
    )
    return len(rows)


async def touch_subscriptions(subscription_ids: list[str], now: datetime) -> None:
    """A receipt proves a subscription alive."""
    if subscription_ids:
        await (
            PushSubscription.update({PushSubscription.last_seen_at: now})
            .where(PushSubscription.id.is_in(subscription_ids))
            .run()
        )


async def deliveries_of(notification_id: str, user_id: str | None = None) -> list[dict[str, Any]]:
    query = PushDelivery.select().where(PushDelivery.notification_id == notification_id)
    if user_id is not None:
        query = query.where(PushDelivery.user_id == user_id)
    rows: list[dict[str, Any]] = await query.order_by(PushDelivery.queued_at).run()
    return rows


async def move_delivery_on(delivery_id: str, values: dict[Column | str, Any]) -> None:
    """A receipt's update; "displayed" never overwrites a "clicked" that raced it."""
    query = PushDelivery.update(values).where(PushDelivery.id == delivery_id)
    if values.get("state") == DISPLAYED:
        query = query.where(PushDelivery.state != CLICKED)
    await query.run()


async def preference_of(user_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not user_ids:
        return {}
    rows = (
        await PushPreference.select()
        .where(PushPreference.user_id.is_in(user_ids))
        .output(load_json=True)
        .run()
    )
    return {str(row["user_id"]): row for row in rows}


async def save_preference(row: dict[str, Any]) -> None:
    await (
        PushPreference.insert(PushPreference(**row))
        .on_conflict(
            target=PushPreference.user_id,
            action="DO UPDATE",
            values=[
                PushPreference.quiet_from,
                PushPreference.quiet_until,
                PushPreference.opted_out,
                PushPreference.updated_at,
            ],
        )
        .run()
    )


async def lock_plan_cursor(newest_change_id: int) -> int | None:
    """Within a write transaction: the plan cursor, locked; None when another instance holds
    it (it is planning right now). Made at the newest change on first use: no history."""
    query = PushPlanCursor.select().where(PushPlanCursor.id == CURSOR_ROW)
    row = await _skip_locked(query, PushPlanCursor).first().run()
    if row is not None:
        return int(row["last_change_id"])
    if current_engine().engine_type == "postgres":
        exists = await PushPlanCursor.exists().where(PushPlanCursor.id == CURSOR_ROW).run()
        if exists:
            return None
    await (
        PushPlanCursor.insert(PushPlanCursor(id=CURSOR_ROW, last_change_id=newest_change_id))
        .on_conflict(action="DO NOTHING")
        .run()
    )
    return None


async def move_plan_cursor(change_id: int) -> None:
    await (
        PushPlanCursor.update({PushPlanCursor.last_change_id: change_id})
        .where(PushPlanCursor.id == CURSOR_ROW)
        .run()
    )


async def job_changes_after(
    after_id: int, limit: int, up_to_id: int | None = None
) -> list[dict[str, Any]]:
    """Job changes after ``after_id``; the planner reads no further than the log's head
    (``up_to_id``), below which no smaller id may still commit."""
    bound = ChangeLog.id > after_id if up_to_id is None else ChangeLog.id <= up_to_id
    rows: list[dict[str, Any]] = (
        await ChangeLog.select()
        .where((ChangeLog.id > after_id) & bound)
        .where(ChangeLog.job_id.is_not_null())
        .order_by(ChangeLog.id)
        .limit(limit)
        .output(load_json=True)
        .run()
    )
    return rows
