"""Queries on staff accounts, branches, teams and customers."""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column
from piccolo.table import Table

from server.db.engine import current_engine
from server.db.tables import Branch, Customer, Team, User


async def find_user_by_email(email: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await User.select().where(User.email == email.strip().lower()).first().run()
    )
    return row


async def get_user(user_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = await User.select().where(User.id == user_id).first().run()
    return row


async def users_by_id(user_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not user_ids:
        return {}
    rows = await User.select().where(User.id.is_in(user_ids)).run()
    return {str(row["id"]): row for row in rows}


async def field_staff(branch_id: str | None) -> list[dict[str, Any]]:
    """Field staff of ``branch_id`` (None: every branch), by name."""
    query = User.select(User.id, User.name, User.phone, User.team, User.active).where(
        User.role == "staff"
    )
    if branch_id is not None:
        query = query.where(User.branch == branch_id)
    rows: list[dict[str, Any]] = await query.order_by(User.name).run()
    return rows


async def customers_named(branch_id: str | None, search: str, limit: int) -> list[dict[str, Any]]:
    """Customers of ``branch_id`` (None: every branch) whose name contains ``search``."""
    query = Customer.select(
        Customer.id, Customer.name, Customer.phone, Customer.address, Customer.lat, Customer.lng
    )
    if branch_id is not None:
        query = query.where(Customer.branch == branch_id)
    if _literal(search):
        pattern = f"%{_literal(search)}%"
        # SQLite's LIKE already ignores ASCII case (Thai has none); it has no ILIKE.
        postgres = current_engine().engine_type == "postgres"
        query = query.where(
            Customer.name.ilike(pattern) if postgres else Customer.name.like(pattern)
        )
    rows: list[dict[str, Any]] = await query.order_by(Customer.name).limit(limit).run()
    return rows


def _literal(text: str) -> str:
    """``text`` without LIKE's wildcards (the engines escape them differently)."""
    return text.replace("%", "").replace("_", "")


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


# The office CRM's records, by its external ids -------------------------------------------

RECORD_TABLES: dict[str, type[Table]] = {
    "branch": Branch,
    "team": Team,
    "staff": User,
    "customer": Customer,
}
UPSERT_LOCK_KEYS = {
    "branch": 7_311_001,
    "team": 7_311_002,
    "staff": 7_311_003,
    "customer": 7_311_004,
}
"""PostgreSQL advisory lock per kind: two upserts of one kind never race to create the same
external id (or, for staff, to take the same email)."""


async def lock_upserts(kind: str) -> None:
    """Within a write transaction: one upsert of ``kind`` at a time until commit (PostgreSQL;
    SQLite's single writer serialises them already)."""
    if current_engine().engine_type == "postgres":
        await Branch.raw("SELECT pg_advisory_xact_lock({})", UPSERT_LOCK_KEYS[kind]).run()


async def branch_by_external_id(external_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Branch.select().where(Branch.external_id == external_id).first().run()
    )
    return row


async def team_by_external_id(external_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Team.select(
            *Team.all_columns(), Team.branch.external_id.as_alias("branch_external_id")
        )
        .where(Team.external_id == external_id)
        .first()
        .run()
    )
    return row


async def staff_by_external_id(external_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await User.select(
            *User.all_columns(),
            User.branch.external_id.as_alias("branch_external_id"),
            User.team.external_id.as_alias("team_external_id"),
        )
        .where(User.external_id == external_id)
        .first()
        .run()
    )
    return row


async def customer_by_external_id(external_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await Customer.select(
            *Customer.all_columns(), Customer.branch.external_id.as_alias("branch_external_id")
        )
        .where(Customer.external_id == external_id)
        .first()
        .run()
    )
    return row


async def insert_record(kind: str, row: dict[str, Any]) -> None:
    table = RECORD_TABLES[kind]
    await table.insert(table(**row)).run()


async def update_record(kind: str, record_id: str, values: dict[str, Any]) -> None:
    table = RECORD_TABLES[kind]
    columns: dict[Column | str, Any] = {name: value for name, value in values.items()}
    await table.update(columns).where(table._meta.primary_key == record_id).run()


async def set_password_hash(user_id: str, password_hash: str) -> None:
    await User.update({User.password_hash: password_hash}).where(User.id == user_id).run()


async def team_members_elsewhere(team_id: str, branch_id: str) -> int:
    """How many people of the team belong to another branch than ``branch_id``."""
    return int(await User.count().where((User.team == team_id) & (User.branch != branch_id)).run())
