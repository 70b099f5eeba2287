"""Queries on signed-in devices (sessions): refresh-token generations, and what their syncs
told us; and on one-time password links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from piccolo.query.functions.aggregate import Count, Max

from server.core.access import Role
from server.db.tables import Device, DeviceSync, MutationReceipt, PasswordToken, PushSubscription


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


async def delete_device_subscriptions(device_ids: list[str]) -> int:
    """Within a write transaction: forget the browsers subscribed by these signed-in
    sessions (signed out, revoked or replaced: their phones hear pushes no more)."""
    if not device_ids:
        return 0
    rows = (
        await PushSubscription.delete()
        .where(PushSubscription.device_id.is_in(device_ids))
        .returning(PushSubscription.id)
        .run()
    )
    return len(rows)


async def live_device_ids(user_id: str, client_id: str) -> list[str]:
    rows = (
        await Device.select(Device.id)
        .where(
            (Device.user == user_id) & (Device.client_id == client_id) & Device.revoked_at.is_null()
        )
        .run()
    )
    return [str(row["id"]) for row in rows]


async def least_recently_seen(user_id: str, keep: int) -> list[str]:
    """The person's live devices but the ``keep`` most recently seen: those to sign out so
    that one more fits under the limit."""
    rows = (
        await Device.select(Device.id)
        .where((Device.user == user_id) & Device.revoked_at.is_null())
        .order_by(Device.last_seen_at, Device.created_at, ascending=False)
        .run()
    )
    return [str(row["id"]) for row in rows[keep:]]


async def user_live_device_ids(user_id: str) -> list[str]:
    rows = (
        await Device.select(Device.id)
        .where((Device.user == user_id) & Device.revoked_at.is_null())
        .run()
    )
    return [str(row["id"]) for row in rows]


async def device_owner(device_id: str) -> dict[str, Any] | None:
    """A live device's user, with the user's role and branch (for scope checks)."""
    row: dict[str, Any] | None = (
        await Device.select(
            Device.user.id.as_alias("user_id"),
            Device.user.role.as_alias("role"),
            Device.user.branch.as_alias("branch_id"),
        )
        .where((Device.id == device_id) & Device.revoked_at.is_null())
        .first()
        .run()
    )
    return row


async def staff_devices(branch_id: str | None, limit: int) -> list[dict[str, Any]]:
    """Signed-in devices of staff (of one branch, or all), most recently seen first, with
    what their syncs told us."""
    query = Device.select(
        Device.id,
        Device.client_id,
        Device.name,
        Device.platform,
        Device.last_seen_at,
        Device.user.id.as_alias("user_id"),
        Device.user.name.as_alias("user_name"),
    ).where(Device.revoked_at.is_null() & (Device.user.role == Role.STAFF))
    if branch_id is not None:
        query = query.where(Device.user.branch == branch_id)
    rows: list[dict[str, Any]] = (
        await query.order_by(Device.last_seen_at, ascending=False).limit(limit).run()
    )
    return rows


async def sync_states(device_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not device_ids:
        return {}
    rows = await DeviceSync.select().where(DeviceSync.device_id.is_in(device_ids)).run()
    return {str(row["device_id"]): row for row in rows}


async def receipt_tallies(device_ids: list[str]) -> list[dict[str, Any]]:
    """Per device and outcome: how many receipts, and the newest one's id."""
    if not device_ids:
        return []
    rows: list[dict[str, Any]] = (
        await MutationReceipt.select(
            MutationReceipt.device_id,
            MutationReceipt.outcome,
            Count(MutationReceipt.id, alias="total"),
            Max(MutationReceipt.id, alias="newest"),
        )
        .where(MutationReceipt.device_id.is_in(device_ids))
        .group_by(MutationReceipt.device_id, MutationReceipt.outcome)
        .run()
    )
    return rows


async def receipts_by_id(receipt_ids: list[int]) -> list[dict[str, Any]]:
    if not receipt_ids:
        return []
    rows: list[dict[str, Any]] = (
        await MutationReceipt.select(
            MutationReceipt.id,
            MutationReceipt.mutation_id,
            MutationReceipt.job_id,
            MutationReceipt.outcome,
            MutationReceipt.code,
            MutationReceipt.received_at,
        )
        .where(MutationReceipt.id.is_in(receipt_ids))
        .run()
    )
    return rows


async def insert_password_token(row: dict[str, Any]) -> None:
    await PasswordToken.insert(PasswordToken(**row)).run()


async def spend_password_tokens(user_id: str, at: datetime) -> None:
    """Within a write transaction: the person's unused links stop working."""
    await (
        PasswordToken.update({PasswordToken.used_at: at})
        .where((PasswordToken.user_id == user_id) & PasswordToken.used_at.is_null())
        .run()
    )


async def usable_password_token(token_hash: str, now: datetime) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await PasswordToken.select()
        .where(
            (PasswordToken.token_hash == token_hash)
            & PasswordToken.used_at.is_null()
            & (PasswordToken.expires_at > now)
        )
        .first()
        .run()
    )
    return row


async def spend_password_token(token_hash: str, now: datetime) -> str | None:
    """Within a write transaction: compare-and-set, spend the link once if still usable;
    the person it was for, or None."""
    rows = (
        await PasswordToken.update({PasswordToken.used_at: now})
        .where(
            (PasswordToken.token_hash == token_hash)
            & PasswordToken.used_at.is_null()
            & (PasswordToken.expires_at > now)
        )
        .returning(PasswordToken.user_id)
        .run()
    )
    return str(rows[0]["user_id"]) if rows else None
