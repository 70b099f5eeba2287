"""Queries of offline sync: mutation receipts, each device's clock, one user's batch lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from server.db.engine import current_engine, execute_many
from server.db.tables import DeviceSync, MutationReceipt

CHUNK = 500
USER_LOCK_CLASS = 7  # two-key advisory locks: (class, hash of the user id)


async def lock_user_mutations(user_id: str) -> None:
    """Within a write transaction: one sync of a user at a time (PostgreSQL; SQLite's write
    lock already serialises), so two copies of a batch racing on parallel connections see
    each other's receipts instead of both applying."""
    if current_engine().engine_type == "postgres":
        await MutationReceipt.raw(
            "SELECT pg_advisory_xact_lock({}, hashtext({}))", USER_LOCK_CLASS, user_id
        )


async def receipts_for(user_id: str, mutation_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored receipts of ``mutation_ids`` by mutation id."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(mutation_ids), CHUNK):
        rows = (
            await MutationReceipt.select()
            .where(
                (MutationReceipt.user_id == user_id)
                & MutationReceipt.mutation_id.is_in(mutation_ids[start : start + CHUNK])
            )
            .output(load_json=True)
            .run()
        )
        found.update({row["mutation_id"]: row for row in rows})
    return found


RECEIPT_COLUMNS = (
    "user_id",
    "device_id",
    "mutation_id",
    "kind",
    "job_id",
    "body_hash",
    "outcome",
    "code",
    "reason",
    "result",
    "change_id",
    "client_time",
    "received_at",
)
INSERT_RECEIPT = (
    f"INSERT INTO mutation_receipt ({', '.join(RECEIPT_COLUMNS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(RECEIPT_COLUMNS) + 1))})"
)


async def insert_receipts(rows: list[dict[str, Any]]) -> None:
    """Store receipts (``result`` is JSON); in bulk, within the batch's transaction."""
    values = [
        tuple(orjson.dumps(row[c]).decode() if c == "result" else row[c] for c in RECEIPT_COLUMNS)
        for row in rows
    ]
    await execute_many(INSERT_RECEIPT, values)


async def receipts_after(user_id: str, after_id: int, limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await MutationReceipt.select(
            MutationReceipt.id,
            MutationReceipt.mutation_id,
            MutationReceipt.kind,
            MutationReceipt.job_id,
            MutationReceipt.outcome,
            MutationReceipt.code,
            MutationReceipt.reason,
            MutationReceipt.change_id,
            MutationReceipt.client_time,
            MutationReceipt.received_at,
        )
        .where((MutationReceipt.user_id == user_id) & (MutationReceipt.id > after_id))
        .order_by(MutationReceipt.id)
        .limit(limit)
        .run()
    )
    return rows


async def record_device_contact(
    device_id: str, user_id: str, at: datetime, skew_seconds: float | None
) -> None:
    """Remember when a device was last heard from, and its clock skew when it was measured."""
    values: dict[Any, Any] = {DeviceSync.last_contact_at: at}
    if skew_seconds is not None:
        values[DeviceSync.clock_skew_seconds] = skew_seconds
    updated = (
        await DeviceSync.update(values)
        .where(DeviceSync.device_id == device_id)
        .returning(DeviceSync.device_id)
        .run()
    )
    if not updated:
        await DeviceSync.insert(
            DeviceSync(
                device_id=device_id,
                user_id=user_id,
                last_contact_at=at,
                clock_skew_seconds=skew_seconds,
            )
        ).run()


async def device_skew(device_id: str) -> float | None:
    """The clock skew last measured for a device session, if any."""
    row = (
        await DeviceSync.select(DeviceSync.clock_skew_seconds)
        .where(DeviceSync.device_id == device_id)
        .first()
        .run()
    )
    return None if row is None else row["clock_skew_seconds"]
