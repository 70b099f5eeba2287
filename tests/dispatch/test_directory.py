"""The office's directory: whom a dispatcher can put on a job (their branch's field staff) and
for whom (their branch's customers, found by name); admins see every branch; staff none."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from server.context import AppContext
from server.db.tables import User
from server.dispatch.schemas import CustomerList, StaffList
from tests.answers import parse_answer
from tests.problems import assert_problem
from tests.world import World, add_jobs, add_user, bearer

STAFF = "/api/dispatch/staff"
CUSTOMERS = "/api/dispatch/customers"


async def staff_list(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = await client.get(STAFF, headers=headers)
    assert answer.status_code == 200, answer.text
    staff: list[dict[str, Any]] = parse_answer(StaffList, answer.json()).model_dump(by_alias=True)[
        "staff"
    ]
    return staff


async def customers(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    answer = await client.get(CUSTOMERS, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = parse_answer(CustomerList, answer.json()).model_dump(
        by_alias=True
    )["customers"]
    return found


async def customer_named(name: str, branch: str) -> str:
    """A new customer of ``branch`` (with a job, as tests.world makes them); their id."""
    job = (await add_jobs(None, 1, status="pending", branch=branch, customer_name=name))[0]
    return str(job["customer"])


async def test_a_dispatcher_lists_the_field_staff_of_their_branch_only(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    newcomer = await add_user("staff", world.south, world.south_team, name="Newcomer South")
    away = await add_user("staff", world.south, world.south_team, name="On leave")
    await User.update({User.active: False}).where(User.id == away["id"]).run()

    listed = await staff_list(client, bearer(ctx.signer, world.dispatcher))

    by_id = {person["id"]: person for person in listed}
    for person in (world.staff_a, world.staff_b, newcomer):
        assert by_id[person["id"]]["name"] == person["name"]
        assert by_id[person["id"]]["teamId"] == world.south_team
        assert by_id[person["id"]]["active"] is True
    assert by_id[away["id"]]["active"] is False, "shown, but not to be picked"
    assert world.staff_c["id"] not in by_id, "another branch's"
    assert world.dispatcher["id"] not in by_id and world.admin["id"] not in by_id, "not field staff"
    names = [person["name"] for person in listed]
    assert names == sorted(names)


async def test_an_admin_lists_every_branchs_field_staff(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    listed = {person["id"] for person in await staff_list(client, bearer(ctx.signer, world.admin))}
    assert {world.staff_a["id"], world.staff_b["id"], world.staff_c["id"]} <= listed
    assert world.dispatcher["id"] not in listed and world.admin["id"] not in listed


async def test_customers_are_found_by_a_part_of_their_name_within_the_branch(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    tag = uuid.uuid4().hex[:6]
    south_thai = await customer_named(f"คุณมาลี {tag} ศรีสุข", world.south)
    south_latin = await customer_named(f"Malee {tag} Srisuk", world.south)
    north = await customer_named(f"Malee {tag} North", world.north)
    other = await customer_named(f"Somsri {uuid.uuid4().hex[:6]}", world.south)
    office = bearer(ctx.signer, world.dispatcher)

    found = await customers(client, office, q=tag)

    assert sorted(c["id"] for c in found) == sorted([south_thai, south_latin])
    [malee] = [c for c in found if c["id"] == south_latin]
    assert malee["address"] == "99/1 ถนนสุขุมวิท, Khlong Toei, Bangkok 10110"
    assert malee["location"] == {"lat": 13.7083, "lng": 100.5838}
    assert malee["phone"] == "0812345678"
    assert [c["id"] for c in await customers(client, office, q=f"มาลี {tag}")] == [south_thai]
    assert [c["id"] for c in await customers(client, office, q=f"malee {tag}")] == [south_latin]
    assert other not in [c["id"] for c in await customers(client, office, q=tag)]
    admin = bearer(ctx.signer, world.admin)
    assert north in [c["id"] for c in await customers(client, admin, q=tag)]


async def test_the_customer_search_is_bounded_and_checked(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    tag = uuid.uuid4().hex[:6]
    for n in range(3):
        await customer_named(f"Bulk {tag} {n}", world.south)
    office = bearer(ctx.signer, world.dispatcher)
    for bad in ({"limit": 0}, {"limit": 51}, {"q": "x" * 101}, {"limit": "many"}):
        answer = await client.get(CUSTOMERS, params=bad, headers=office)
        assert_problem(answer, 422, "validation_failed")
    assert len(await customers(client, office, limit=1)) == 1
    assert len(await customers(client, office, q=tag, limit=2)) == 2
    assert len(await customers(client, office, q=tag)) == 3


@pytest.mark.parametrize("path", [STAFF, CUSTOMERS])
async def test_staff_may_not_read_the_directory(
    client: httpx.AsyncClient, ctx: AppContext, world: World, path: str
) -> None:
    answer = await client.get(path, headers=bearer(ctx.signer, world.staff_a))
    assert_problem(answer, 403, "role_forbidden")
    assert_problem(await client.get(path), 401, "unauthorized")
