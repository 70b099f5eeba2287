"""Queries on the CRM's API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.db.tables import ApiKey


async def insert_api_key(row: dict[str, Any]) -> None:
    await ApiKey.insert(ApiKey(**row)).run()


async def live_api_key(key_hash: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await ApiKey.select(ApiKey.id, ApiKey.name, ApiKey.scopes)
        .where((ApiKey.key_hash == key_hash) & ApiKey.revoked_at.is_null())
        .first()
        .output(load_json=True)
        .run()
    )
    return row


async def record_key_use(key_id: str, at: datetime) -> None:
    await ApiKey.update({ApiKey.last_used_at: at}).where(ApiKey.id == key_id).run()


async def revoke_api_keys(key_id_or_prefix: str, at: datetime) -> list[str]:
    """Revoke the live keys with this id or printed prefix; their ids."""
    wanted = [
        row["id"]
        for row in await ApiKey.select(ApiKey.id, ApiKey.prefix)
        .where(ApiKey.revoked_at.is_null())
        .run()
        if key_id_or_prefix in (str(row["id"]), row["prefix"])
    ]
    if wanted:
        await ApiKey.update({ApiKey.revoked_at: at}).where(ApiKey.id.is_in(wanted)).run()
    return [str(key_id) for key_id in wanted]


async def all_api_keys() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await ApiKey.select().order_by(ApiKey.created_at).output(load_json=True).run()
    )
    return rows
