"""Queries on signed-in devices (sessions) and their refresh-token generation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.db.tables import Device


async def insert_device(row: dict[str, Any]) -> None:
    await Device.insert(Device(**row)).run()


async def get_device(device_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await Device.select().where(Device.id == device_id).first().run()
    return row


async def advance_generation(device_id: str, spent: int, seen_at: datetime) -> bool:
    """Compare-and-set: spend generation ``spent`` once; False if it was already spent."""
    rows = (
        await Device.update({Device.refresh_generation: spent + 1, Device.last_seen_at: seen_at})
        .where(
            (Device.id == device_id)
            & (Device.refresh_generation == spent)
            & Device.revoked_at.is_null()
        )
        .returning(Device.id)
        .run()
    )
    return bool(rows)


async def revoke_devices(device_ids: list[str], reason: str, at: datetime) -> list[str]:
    """Revoke those still live; returns the ids that this call revoked."""
    if not device_ids:
        return []
    rows = (
        await Device.update({Device.revoked_at: at, Device.revoked_reason: reason})
        .where(Device.id.is_in(device_ids) & Device.revoked_at.is_null())
        .returning(Device.id)
        .run()
    )
    return [str(row["id"]) for row in rows]


async def live_device_ids(user_id: str, client_id: str) -> list[str]:
    rows = (
        await Device.select(Device.id)
        .where(
            (Device.user == user_id) & (Device.client_id == client_id) & Device.revoked_at.is_null()
        )
        .run()
    )
    return [str(row["id"]) for row in rows]


async def device_ids_revoked_since(since: datetime) -> list[str]:
    rows = await Device.select(Device.id).where(Device.revoked_at >= since).run()
    return [str(row["id"]) for row in rows]
