"""Queries on Web Push subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.db.tables import PushSubscription


async def save_subscription(row: dict[str, Any], now: datetime) -> str:
    """Within a write transaction: keep a browser's subscription, once per endpoint. The same
    endpoint again (new keys, or another person signed in on that browser) updates it."""
    existing = (
        await PushSubscription.select(PushSubscription.id)
        .where(PushSubscription.endpoint == row["endpoint"])
        .first()
        .run()
    )
    if existing is None:
        await PushSubscription.insert(PushSubscription(**row, last_seen_at=now)).run()
        return str(row["id"])
    await (
        PushSubscription.update(
            {
                PushSubscription.user_id: row["user_id"],
                PushSubscription.device_id: row["device_id"],
                PushSubscription.p256dh: row["p256dh"],
                PushSubscription.auth: row["auth"],
                PushSubscription.last_seen_at: now,
            }
        )
        .where(PushSubscription.id == existing["id"])
        .run()
    )
    return str(existing["id"])


async def delete_subscription(subscription_id: str, user_id: str) -> bool:
    rows = (
        await PushSubscription.delete()
        .where((PushSubscription.id == subscription_id) & (PushSubscription.user_id == user_id))
        .returning(PushSubscription.id)
        .run()
    )
    return bool(rows)


async def delete_user_subscriptions(user_id: str) -> int:
    """Within a write transaction: forget every browser subscribed for the person (they
    were deactivated: nothing more is sent to them)."""
    rows = (
        await PushSubscription.delete()
        .where(PushSubscription.user_id == user_id)
        .returning(PushSubscription.id)
        .run()
    )
    return len(rows)
