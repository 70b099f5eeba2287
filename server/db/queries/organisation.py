"""Queries on branches and teams."""

from __future__ import annotations

from typing import Any

from server.db.tables import Branch, Team


async def insert_branches(rows: list[dict[str, Any]]) -> None:
    await Branch.insert(*(Branch(**row) for row in rows)).run()


async def insert_teams(rows: list[dict[str, Any]]) -> None:
    await Team.insert(*(Team(**row) for row in rows)).run()
