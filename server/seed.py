"""Deterministic demo data: 2 branches, 4 teams, the contract's demo accounts and ~2,000 jobs.

Everything but the anchor day comes from a fixed random seed and name-based UUIDs, so two runs
for the same day produce the same rows. Jobs span the two weeks before and after the anchor
day; their status follows the clock (done in the past, under way today, booked ahead).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from server.auth.passwords import DEMO_PASSWORD, hash_password
from server.core.clock import BANGKOK
from server.db.engine import write_transaction
from server.jobs.writes import create_jobs
from server.people import queries as people_queries

NAMESPACE = uuid.UUID("6f1c2a52-8f3e-4c53-9a51-6a8e0c1d7b10")
DAYS_EACH_WAY = 14
JOBS_PER_DAY = 69
CUSTOMERS = 420
ANCHOR_TIME = time(11, 0)  # statuses are as they would be at 11:00 on the anchor day

BRANCHES = {"sukhumvit": "Tinedy Sukhumvit", "chatuchak": "Tinedy Chatuchak"}
TEAMS = {
    "sukhumvit-a": ("Sukhumvit A", "sukhumvit"),
    "sukhumvit-b": ("Sukhumvit B", "sukhumvit"),
    "chatuchak-a": ("Chatuchak A", "chatuchak"),
    "chatuchak-b": ("Chatuchak B", "chatuchak"),
}
# District, branch, centre latitude and longitude.
DISTRICTS = (
    ("Khlong Toei, Bangkok 10110", "sukhumvit", 13.7083, 100.5838),
    ("Watthana, Bangkok 10110", "sukhumvit", 13.7393, 100.5853),
    ("Phra Khanong, Bangkok 10260", "sukhumvit", 13.7022, 100.6012),
    ("Bang Na, Bangkok 10260", "sukhumvit", 13.6681, 100.6045),
    ("Sathon, Bangkok 10120", "sukhumvit", 13.7083, 100.5262),
    ("Chatuchak, Bangkok 10900", "chatuchak", 13.8283, 100.5598),
    ("Lat Phrao, Bangkok 10230", "chatuchak", 13.8034, 100.6075),
    ("Huai Khwang, Bangkok 10310", "chatuchak", 13.7766, 100.5790),
    ("Bang Sue, Bangkok 10800", "chatuchak", 13.8094, 100.5372),
    ("Mueang Nonthaburi, Nonthaburi 11000", "chatuchak", 13.8591, 100.5217),
)
STREETS = (
    "Sukhumvit Soi 24",
    "Sukhumvit Soi 39",
    "Rama IV Road",
    "Phahonyothin Road",
    "Ratchadaphisek Road",
    "Lat Phrao Soi 71",
    "Ngamwongwan Road",
    "Sathon Nuea Road",
    "ถนนสุขุมวิท",
    "ถนนพหลโยธิน",
    "ถนนรัชดาภิเษก",
    "ถนนลาดพร้าว",
)
GIVEN = (
    "สมชาย",
    "สมหญิง",
    "วิภา",
    "ประเสริฐ",
    "นภา",
    "กิตติ",
    "อรุณี",
    "ธนพล",
    "พิมพ์ชนก",
    "สุดา",
    "Somchai",
    "Suda",
    "Anong",
    "Kittipong",
    "Nattaya",
    "James",
    "Emily",
    "Hiroshi",
    "Priya",
)
FAMILY = (
    "ใจดี",
    "ศรีสุข",
    "วงศ์ไทย",
    "บุญมา",
    "ทองดี",
    "แสงอรุณ",
    "Chaiyaporn",
    "Srisuk",
    "Wongsawat",
    "Thongdee",
    "Smith",
    "Tanaka",
    "Müller",
    "Nguyen",
)
# Service type, minutes, checklist (English · Thai).
CREW_SERVICES = ("Deep clean", "Move-out clean")  # done by a crew of two or three
SERVICES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    (
        "Deep clean",
        240,
        (
            "Dust all surfaces · ปัดฝุ่นทุกพื้นผิว",
            "Vacuum and mop floors · ดูดฝุ่นและถูพื้น",
            "Scrub bathrooms · ขัดห้องน้ำ",
            "Degrease kitchen · ขจัดคราบมันในครัว",
            "Wipe windows and frames · เช็ดกระจกและขอบหน้าต่าง",
            "Clean inside appliances · ทำความสะอาดเครื่องใช้ไฟฟ้า",
            "Empty bins · เก็บขยะ",
            "Final walk-through with customer · ตรวจงานกับลูกค้า",
        ),
    ),
    (
        "Regular clean",
        120,
        (
            "Dust living areas · ปัดฝุ่นห้องนั่งเล่น",
            "Vacuum floors · ดูดฝุ่นพื้น",
            "Clean bathroom · ทำความสะอาดห้องน้ำ",
            "Wipe kitchen counters · เช็ดเคาน์เตอร์ครัว",
            "Empty bins · เก็บขยะ",
        ),
    ),
    (
        "Move-out clean",
        300,
        (
            "Clean inside cabinets · ทำความสะอาดในตู้",
            "Wash walls and switches · เช็ดผนังและสวิตช์",
            "Scrub bathrooms · ขัดห้องน้ำ",
            "Degrease kitchen · ขจัดคราบมันในครัว",
            "Clean windows · เช็ดกระจก",
            "Mop all floors · ถูพื้นทุกห้อง",
            "Photograph every room · ถ่ายรูปทุกห้อง",
            "Hand back keys · คืนกุญแจ",
            "Check balcony and drains · ตรวจระเบียงและท่อระบายน้ำ",
            "Remove debris · ขนเศษวัสดุออก",
        ),
    ),
    (
        "Aircon wash",
        90,
        (
            "Check unit runs · ตรวจการทำงานของเครื่อง",
            "Cover furniture · คลุมเฟอร์นิเจอร์",
            "Wash filters · ล้างแผ่นกรอง",
            "Wash coil and fan · ล้างคอยล์และพัดลม",
            "Clear drain pipe · ล้างท่อน้ำทิ้ง",
            "Test cooling · ทดสอบความเย็น",
        ),
    ),
    (
        "Sofa cleaning",
        120,
        (
            "Vacuum fabric · ดูดฝุ่นผ้า",
            "Pre-treat stains · เตรียมขจัดคราบ",
            "Shampoo and extract · ซักและดูดน้ำ",
            "Deodorise · ดับกลิ่น",
        ),
    ),
    (
        "Mattress cleaning",
        90,
        (
            "Vacuum both sides · ดูดฝุ่นสองด้าน",
            "UV sanitise · ฆ่าเชื้อด้วย UV",
            "Treat stains · ขจัดคราบ",
            "Deodorise · ดับกลิ่น",
            "Dry check · ตรวจความแห้ง",
        ),
    ),
    (
        "Post-renovation clean",
        360,
        (
            "Remove dust from ceilings · ปัดฝุ่นเพดาน",
            "Clean light fittings · เช็ดโคมไฟ",
            "Scrape paint spots · ขูดคราบสี",
            "Vacuum fine dust · ดูดฝุ่นละเอียด",
            "Wash floors twice · ถูพื้นสองรอบ",
            "Clean windows and tracks · ทำความสะอาดกระจกและราง",
            "Wipe fixtures · เช็ดอุปกรณ์ติดตั้ง",
        ),
    ),
)


@dataclass(frozen=True)
class DemoStaff:
    id: str
    branch: str


def demo_id(kind: str, key: object) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


async def seed_demo(today: date) -> str:
    """Load the demo once; a second run finds the admin account and leaves the data alone."""
    if await people_queries.find_user_by_email("admin@demo.local") is not None:
        return "Demo data is already loaded."
    rng = random.Random(20261124)
    password_hash = hash_password(DEMO_PASSWORD)
    async with write_transaction():  # all or nothing: a failed run leaves no half demo
        staff = await _seed_people(password_hash)
        customers = _customers(rng)
        jobs, items = _jobs(rng, today, customers, staff)
        await create_jobs(customers, jobs, items)
    return f"Loaded {len(staff)} staff, {len(customers)} customers, {len(jobs)} jobs."


async def _seed_people(password_hash: str) -> list[DemoStaff]:
    await people_queries.insert_branches(
        [{"id": demo_id("branch", key), "name": name} for key, name in BRANCHES.items()]
    )
    await people_queries.insert_teams(
        [
            {"id": demo_id("team", key), "name": name, "branch": demo_id("branch", branch)}
            for key, (name, branch) in TEAMS.items()
        ]
    )
    users = [
        _user("admin@demo.local", "ผู้ดูแลระบบ Admin", "admin", None, None, "en", password_hash),
        _user(
            "dispatcher@demo.local",
            "วิภา Dispatcher",
            "dispatcher",
            None,
            "sukhumvit",
            "th",
            password_hash,
        ),
    ]
    staff: list[DemoStaff] = []
    team_keys = list(TEAMS)
    for n in range(1, 21):
        team = team_keys[(n - 1) // 5]
        branch = TEAMS[team][1]
        name = f"{GIVEN[n % len(GIVEN)]} {FAMILY[n % len(FAMILY)]}"
        locale = "th" if n % 3 else "en"
        row = _user(f"staff{n}@demo.local", name, "staff", team, branch, locale, password_hash)
        users.append(row)
        staff.append(DemoStaff(row["id"], branch))
    await people_queries.insert_users(users)
    return staff


def _user(
    email: str,
    name: str,
    role: str,
    team: str | None,
    branch: str | None,
    locale: str,
    password_hash: str,
) -> dict[str, Any]:
    return {
        "id": demo_id("user", email),
        "email": email,
        "name": name,
        "role": role,
        "team": demo_id("team", team) if team else None,
        "branch": demo_id("branch", branch) if branch else None,
        "locale": locale,
        "password_hash": password_hash,
    }


def _customers(rng: random.Random) -> list[dict[str, Any]]:
    customers = []
    for n in range(CUSTOMERS):
        district, branch, lat, lng = rng.choice(DISTRICTS)
        name = f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"
        if n % 7 == 0:
            name = f"คอนโด {rng.choice(('ลุมพินี', 'ศุภาลัย', 'The Base', 'Noble'))} ({name})"
        customers.append(
            {
                "id": demo_id("customer", n),
                "branch": demo_id("branch", branch),
                "name": name,
                "phone": f"0{rng.choice((6, 8, 9))}{rng.randrange(10_000_000, 99_999_999)}",
                "line_id": f"@{name.split()[0].lower()}{n}" if n % 3 else "",
                "address": f"{rng.randrange(1, 999)}/{rng.randrange(1, 99)} "
                f"{rng.choice(STREETS)}, {district}",
                "lat": round(lat + rng.uniform(-0.015, 0.015), 6),
                "lng": round(lng + rng.uniform(-0.015, 0.015), 6),
            }
        )
    return customers


def _jobs(
    rng: random.Random, today: date, customers: list[dict[str, Any]], staff: list[DemoStaff]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    jobs: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    now = datetime.combine(today, ANCHOR_TIME, BANGKOK)
    for offset in range(-DAYS_EACH_WAY, DAYS_EACH_WAY + 1):
        day = today + timedelta(days=offset)
        for _ in range(JOBS_PER_DAY):
            n = len(jobs)
            customer = rng.choice(customers)
            service, minutes, checklist = rng.choice(SERVICES)
            start = datetime.combine(
                day, time(8 + rng.randrange(0, 10), rng.choice((0, 30))), BANGKOK
            )
            status = _status_for(rng, start, minutes, now)
            branch_staff = [s for s in staff if demo_id("branch", s.branch) == customer["branch"]]
            size = 2 + rng.randrange(2) if service in CREW_SERVICES else 1  # big jobs: a crew
            crew = [] if status == "pending" else [s.id for s in rng.sample(branch_staff, size)]
            job_id = demo_id("job", n)
            jobs.append(
                {
                    "id": job_id,
                    "branch": customer["branch"],
                    "customer": customer["id"],
                    "service_type": service,
                    "status": status,
                    "priority": rng.choices(("normal", "high", "urgent"), (80, 15, 5))[0],
                    "scheduled_at": start.astimezone(UTC),
                    "duration_minutes": minutes,
                    "assignee": crew[0] if crew else None,
                    "crew": " ".join(crew),
                    "address": customer["address"],
                    "lat": customer["lat"],
                    "lng": customer["lng"],
                    "notes": rng.choice(
                        (
                            "",
                            "",
                            "Dog in the yard · มีสุนัข",
                            "Call on arrival · โทรเมื่อถึง",
                            "Key with the condo office · รับกุญแจที่นิติบุคคล",
                        )
                    ),
                }
            )
            done = status == "completed"
            for position, label in enumerate(checklist[: rng.randint(4, len(checklist))]):
                items.append(
                    {
                        "id": demo_id("item", f"{n}:{position}"),
                        "job": job_id,
                        "position": position,
                        "label": label,
                        "done": done,
                        "done_at": start.astimezone(UTC) + timedelta(minutes=20 * position + 15)
                        if done
                        else None,
                    }
                )
    return jobs, items


def _status_for(rng: random.Random, start: datetime, minutes: int, now: datetime) -> str:
    end = start + timedelta(minutes=minutes)
    if end < now:
        return "cancelled" if rng.random() < 0.06 else "completed"
    if start <= now:
        return "in_progress"
    if start - now < timedelta(hours=1):
        return rng.choice(("assigned", "en_route"))
    return "pending" if rng.random() < 0.08 else "assigned"
