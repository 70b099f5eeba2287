"""The fleet benchmark's people and jobs, added beside the demo: ``phone<n>@fleet.local``
staff over the demo's four teams, each with today's round of jobs at a customer of their own;
``dispatcher<n>@fleet.local`` per branch; and a pool of unassigned jobs per branch that the
dispatchers hand out. Written through the server's own queries, so the change log and feed
versions are as the app would leave them. Every password is the demo's."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from server.auth.passwords import DEMO_PASSWORD, hash_password
from server.config import Settings
from server.core.clock import BANGKOK
from server.db.engine import engine_for
from server.jobs.writes import create_jobs
from server.people import queries as people_queries
from server.seed import DISTRICTS, TEAMS, demo_id

FIRST_JOB = time(8, 0)
JOBS_PER_PHONE = 7  # one an hour, 08:00 to 14:00
POOL_PER_PHONE = 1
CHECKLIST = ("ปัดฝุ่น · Dust", "ถูพื้น · Mop", "ห้องน้ำ · Bathroom", "ขยะ · Bins")
SEED_CHUNK = 50  # phones per transaction: bounded statements, steady progress


@dataclass
class FleetWorld:
    """Who was seeded: each phone's e-mail, user id, branch id, round and share of the pool;
    the dispatchers' e-mails by branch id."""

    phones: list[dict[str, Any]] = field(default_factory=list)
    dispatchers: dict[str, list[str]] = field(default_factory=dict)


def phone_email(n: int) -> str:
    return f"phone{n}@fleet.local"


def _person(email: str, role: str, team: str | None, branch: str, password: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "email": email,
        "name": email.split("@")[0],
        "role": role,
        "team": demo_id("team", team) if team else None,
        "branch": demo_id("branch", branch),
        "locale": "th",
        "password_hash": password,
    }


def _customer(n: int, branch: str) -> dict[str, Any]:
    districts = [d for d in DISTRICTS if d[1] == branch]
    district, _, lat, lng = districts[n % len(districts)]
    return {
        "id": str(uuid.uuid4()),
        "branch": demo_id("branch", branch),
        "name": f"ลูกค้า Customer {n}",
        "phone": f"08{n:08d}",
        "line_id": "",
        "address": f"{n}/1 ถนนสุขุมวิท, {district}",
        "lat": round(lat + (n % 13) * 0.001, 6),
        "lng": round(lng + (n % 7) * 0.001, 6),
    }


def _job(customer: dict[str, Any], start: datetime, assignee: str | None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "branch": customer["branch"],
        "customer": customer["id"],
        "service_type": "Regular clean",
        "status": "assigned" if assignee else "pending",
        "priority": "normal",
        "scheduled_at": start.astimezone(UTC),
        "duration_minutes": 50,
        "assignee": assignee,
        "address": customer["address"],
        "lat": customer["lat"],
        "lng": customer["lng"],
        "notes": "",
    }


def _items(job_id: str) -> list[dict[str, Any]]:
    return [
        {"id": str(uuid.uuid4()), "job": job_id, "position": p, "label": label}
        for p, label in enumerate(CHECKLIST)
    ]


async def _seed_phones(world: FleetWorld, first: int, count: int, today: date, pw: str) -> None:
    """Phones ``first`` .. ``first + count - 1``, their rounds and their shares of the pool."""
    teams = list(TEAMS)
    people, customers, jobs, items = [], [], [], []
    for n in range(first, first + count):
        team = teams[n % len(teams)]
        branch = TEAMS[team][1]
        person = _person(phone_email(n), "staff", team, branch, pw)
        customer = _customer(n, branch)
        day = datetime.combine(today, FIRST_JOB, BANGKOK)
        hours = range(JOBS_PER_PHONE)
        round_ = [_job(customer, day + timedelta(hours=h), person["id"]) for h in hours]
        pool = [_job(customer, day, None) for _ in range(POOL_PER_PHONE)]
        people.append(person)
        customers.append(customer)
        jobs += round_ + pool
        items += [item for job in round_ + pool for item in _items(job["id"])]
        world.phones.append(
            {
                "email": person["email"],
                "userId": person["id"],
                "branch": person["branch"],
                "jobs": [job["id"] for job in round_],
                "pool": [job["id"] for job in pool],
            }
        )
    await people_queries.insert_users(people)
    await create_jobs(customers, jobs, items)


async def seed_fleet(
    database_url: str, phones: int, dispatchers_per_branch: int, today: date
) -> FleetWorld:
    """Seed once for every step of the run: ``phones`` is their sum, since each step's
    phones start a fresh day."""
    world = FleetWorld()
    password = hash_password(DEMO_PASSWORD)
    with tempfile.TemporaryDirectory(prefix="fleet-seed-") as tmp:
        settings = Settings(database_url=database_url, data_dir=Path(tmp), secret_key="seeding")
        async with engine_for(settings):
            for first in range(0, phones, SEED_CHUNK):
                count = min(SEED_CHUNK, phones - first)
                await _seed_phones(world, first, count, today, password)
            office = []
            for branch in sorted({team[1] for team in TEAMS.values()}):
                emails = [
                    f"dispatcher{n}.{branch}@fleet.local" for n in range(dispatchers_per_branch)
                ]
                world.dispatchers[demo_id("branch", branch)] = emails
                office += [_person(email, "dispatcher", None, branch, password) for email in emails]
            await people_queries.insert_users(office)
    return world
