"""Demo data: the contract's accounts, a realistic two weeks either way, loaded once."""

from __future__ import annotations

import random
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from server.auth.passwords import DEMO_PASSWORD, verify_password
from server.cluster.processes import drop_database
from server.core.clock import BANGKOK
from server.db.engine import engine_for
from server.db.migrate import apply_migrations
from server.db.tables import ChecklistItem, Customer, Job, Team, User
from server.people.queries import find_user_by_email
from server.seed import DemoStaff, _customers, _jobs, seed_demo
from tests.conftest import fresh_database, make_settings

ANCHOR = date(2026, 11, 24)
THAI = re.compile(r"[\u0E00-\u0E7F]")


async def seeded_counts(url: str, tmp_path: Path) -> dict[str, Any]:
    async with engine_for(make_settings(url, tmp_path)):
        await apply_migrations()
        first = await seed_demo(ANCHOR)
        second = await seed_demo(ANCHOR)
        jobs = await Job.select(Job.scheduled_at, Job.status, Job.lat, Job.lng).run()
        per_job = await ChecklistItem.count().run(), await Job.count().run()
        return {
            "messages": (first, second),
            "users": await User.select(User.email, User.role).run(),
            "teams": await Team.count().run(),
            "jobs": jobs,
            "items_per_job": per_job[0] / per_job[1],
            "customers": await Customer.select(Customer.name).run(),
            "demo_password_works": await verify_password(
                (await find_user_by_email("staff7@demo.local") or {}).get("password_hash"),
                DEMO_PASSWORD,
            ),
        }


async def test_seed_demo_loads_the_contract_world_once(engine_kind: str, tmp_path: Path) -> None:
    url = await fresh_database(engine_kind, tmp_path, "tinedy_seed")
    try:
        seeded = await seeded_counts(url, tmp_path)
    finally:
        if engine_kind == "postgres":
            await drop_database(url)
    assert seeded["messages"][1] == "Demo data is already loaded."
    emails = {u["email"] for u in seeded["users"]}
    expected = {"admin@demo.local", "dispatcher@demo.local"} | {
        f"staff{n}@demo.local" for n in range(1, 21)
    }
    assert emails == expected
    assert seeded["demo_password_works"]
    assert seeded["teams"] == 4
    jobs = seeded["jobs"]
    assert 1900 <= len(jobs) <= 2100
    days = {j["scheduled_at"].astimezone(BANGKOK).date() for j in jobs}
    assert min(days) == ANCHOR - timedelta(days=14) and max(days) == ANCHOR + timedelta(days=14)
    assert all(13.5 < j["lat"] < 14.0 and 100.3 < j["lng"] < 100.8 for j in jobs)
    assert 4 <= seeded["items_per_job"] <= 10
    names = [c["name"] for c in seeded["customers"]]
    assert any(THAI.search(n) for n in names) and any(n.isascii() for n in names)
    past = {j["status"] for j in jobs if j["scheduled_at"] < datetime(2026, 11, 20, tzinfo=BANGKOK)}
    future = {
        j["status"] for j in jobs if j["scheduled_at"] > datetime(2026, 11, 26, tzinfo=BANGKOK)
    }
    assert past == {"completed", "cancelled"}
    assert future == {"assigned", "pending"}


def test_demo_data_is_deterministic_for_a_day() -> None:
    staff = [DemoStaff(f"s{n}", "sukhumvit" if n < 10 else "chatuchak") for n in range(20)]

    def build() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        customers = _customers(random.Random(7))
        return _jobs(random.Random(7), ANCHOR, customers, staff)

    assert build() == build()
