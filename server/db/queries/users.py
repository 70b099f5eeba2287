"""Queries on staff accounts."""

from __future__ import annotations

from typing import Any

from server.db.tables import User


async def find_user_by_email(email: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await User.select().where(User.email == email.strip().lower()).first().run()
    )
    return row


async def get_user(user_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await User.select().where(User.id == user_id).first().run()
    return row


async def insert_users(rows: list[dict[str, Any]]) -> None:
    await User.insert(*(User(**row) for row in rows)).run()
