"""Whom the office can put on a job and for whom: the branch's field staff (names on the
board, the crew picker) and its customers (the new-job form), nothing beyond the branch."""

from __future__ import annotations

from typing import Any

from server.core.access import Principal
from server.people import queries as people_queries


async def branch_staff(principal: Principal) -> dict[str, Any]:
    """``{"staff": [...]}``: the field staff of the caller's branch (admins: all), by name."""
    rows = await people_queries.field_staff(principal.audience.branch_filter)
    return {
        "staff": [
            {
                "id": str(row["id"]),
                "name": row["name"],
                "phone": row["phone"],
                "teamId": None if row["team"] is None else str(row["team"]),
                "active": bool(row["active"]),
            }
            for row in rows
        ]
    }


async def branch_customers(principal: Principal, search: str, limit: int) -> dict[str, Any]:
    """``{"customers": [...]}``: up to ``limit`` customers of the caller's branch whose name
    contains ``search``, by name."""
    rows = await people_queries.customers_named(principal.audience.branch_filter, search, limit)
    return {
        "customers": [
            {
                "id": str(row["id"]),
                "name": row["name"],
                "phone": row["phone"],
                "address": row["address"],
                "location": {"lat": row["lat"], "lng": row["lng"]},
            }
            for row in rows
        ]
    }
