"""A small, known world for tests, and factories for the data a single test owns.

Tests that change data make their own staff member and jobs (``add_staff``, ``add_jobs``) so
the shared world stays as built and tests stay independent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from server.auth.passwords import hash_password
from server.auth.tokens import TokenSigner
from server.core.access import Principal
from server.db.engine import write_transaction
from server.jobs.writes import create_jobs
from server.people import queries as people_queries

TEST_PASSWORD = "correct horse 1234"
BASE_TIME = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # 09:00 in Bangkok


@lru_cache(maxsize=1)
def test_password_hash() -> str:
    return hash_password(TEST_PASSWORD)


@dataclass
class World:
    south: str
    north: str
    south_team: str
    north_team: str
    staff_a: dict[str, Any]
    staff_b: dict[str, Any]
    staff_c: dict[str, Any]
    dispatcher: dict[str, Any]
    admin: dict[str, Any]
    jobs: dict[str, list[str]] = field(default_factory=dict)
    unassigned: list[str] = field(default_factory=list)


async def build_world() -> World:
    south, north = str(uuid.uuid4()), str(uuid.uuid4())
    south_team, north_team = str(uuid.uuid4()), str(uuid.uuid4())
    async with write_transaction():
        await people_queries.insert_branches(
            [{"id": south, "name": "South"}, {"id": north, "name": "North"}]
        )
        await people_queries.insert_teams(
            [
                {"id": south_team, "name": "South A", "branch": south},
                {"id": north_team, "name": "North A", "branch": north},
            ]
        )
    world = World(
        south=south,
        north=north,
        south_team=south_team,
        north_team=north_team,
        staff_a=await add_user("staff", south, south_team, name="สมชาย ใจดี"),
        staff_b=await add_user("staff", south, south_team, name="Suda Srisuk"),
        staff_c=await add_user("staff", north, north_team, name="วิภา ทองดี"),
        dispatcher=await add_user("dispatcher", south, None, name="Dispatcher South"),
        admin=await add_user("admin", None, None, name="Admin"),
    )
    for user, count, status in (
        (world.staff_a, 12, "assigned"),
        (world.staff_b, 5, "in_progress"),
        (world.staff_c, 4, "assigned"),
    ):
        jobs = await add_jobs(user, count, status=status)
        world.jobs[user["id"]] = [job["id"] for job in jobs]
    pending = await add_jobs(None, 3, status="pending", branch=south)
    world.unassigned = [job["id"] for job in pending]
    return world


async def add_user(
    role: str, branch: str | None, team: str | None, name: str = "Test Person", locale: str = "th"
) -> dict[str, Any]:
    user = {
        "id": str(uuid.uuid4()),
        "email": f"{role}-{uuid.uuid4().hex[:8]}@test.local",
        "name": name,
        "role": role,
        "branch": branch,
        "team": team,
        "locale": locale,
        "password_hash": test_password_hash(),
    }
    await people_queries.insert_users([user])
    return user


async def add_staff(world: World, branch: str = "south", locale: str = "th") -> dict[str, Any]:
    team = world.south_team if branch == "south" else world.north_team
    return await add_user("staff", getattr(world, branch), team, locale=locale)


async def add_jobs(
    assignee: dict[str, Any] | None,
    count: int,
    *,
    status: str = "assigned",
    branch: str | None = None,
    start: datetime = BASE_TIME,
    step: timedelta = timedelta(hours=1),
    customer_name: str = "คุณสมศรี มีสุข (Somsri)",
) -> list[dict[str, Any]]:
    """``count`` jobs for ``assignee``, one customer, scheduled ``step`` apart from ``start``."""
    branch_id = branch or (assignee["branch"] if assignee else None)
    customer = {
        "id": str(uuid.uuid4()),
        "branch": branch_id,
        "name": customer_name,
        "phone": "0812345678",
        "line_id": "@somsri",
        "address": "99/1 ถนนสุขุมวิท, Khlong Toei, Bangkok 10110",
        "lat": 13.7083,
        "lng": 100.5838,
    }
    jobs = [
        {
            "id": str(uuid.uuid4()),
            "branch": branch_id,
            "customer": customer["id"],
            "service_type": "Deep clean",
            "status": status,
            "priority": "normal",
            "scheduled_at": start + step * n,
            "duration_minutes": 120,
            "assignee": assignee["id"] if assignee else None,
            "address": customer["address"],
            "lat": customer["lat"],
            "lng": customer["lng"],
            "notes": "ระวังสุนัข · mind the dog",
        }
        for n in range(count)
    ]
    items = [
        {"id": str(uuid.uuid4()), "job": job["id"], "position": p, "label": label}
        for job in jobs
        for p, label in enumerate(("ปัดฝุ่น · Dust", "ถูพื้น · Mop", "Bathroom", "Bins"))
    ]
    await create_jobs([customer], jobs, items)
    return jobs


def bearer(
    signer: TokenSigner, user: dict[str, Any], device_id: str | None = None
) -> dict[str, str]:
    """Headers for ``user`` without a sign-in round trip (auth itself is tested by login)."""
    principal = Principal(
        user_id=user["id"],
        device_id=device_id or str(uuid.uuid4()),
        role=user["role"],
        branch_id=user["branch"],
        team_id=user["team"],
    )
    return {"Authorization": f"Bearer {signer.issue_access(principal)}"}
