"""Queries on staff accounts, branches, teams and customers."""

from __future__ import annotations

from typing import Any

from server.db.tables import Branch, Customer, Team, User


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


async def insert_branches(rows: list[dict[str, Any]]) -> None:
    await Branch.insert(*(Branch(**row) for row in rows)).run()


async def insert_teams(rows: list[dict[str, Any]]) -> None:
    await Team.insert(*(Team(**row) for row in rows)).run()


async def get_customer(customer_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Customer.select().where(Customer.id == customer_id).first().run()
    )
    return row


async def get_team(team_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await Team.select().where(Team.id == team_id).first().run()
    return row
