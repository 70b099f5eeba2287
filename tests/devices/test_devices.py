"""``GET /api/dispatch/devices``: each phone of the branch's staff, its clock and its refusals."""

from __future__ import annotations

from datetime import timedelta

import httpx

from server.auth.service import DeviceInfo, SignInRules, login
from server.context import AppContext
from server.devices.schemas import DevicesList
from tests.answers import parse_answer
from tests.phones import Phone
from tests.world import TEST_PASSWORD, World, add_jobs, add_staff, bearer


async def signed_in_phone(
    client: httpx.AsyncClient, ctx: AppContext, user: dict[str, object], offset: timedelta
) -> Phone:
    """A phone with a real session (the devices view lists sessions)."""
    session = await login(
        str(user["email"]),
        TEST_PASSWORD,
        DeviceInfo("field-phone", "Galaxy A15", "android"),
        "127.0.0.1",
        ctx.signer,
        ctx.throttle,
        SignInRules.of(ctx.settings),
    )
    device_id = ctx.signer.read_access(session.access_token).device_id
    return Phone(client, ctx, dict(user), device_id=device_id, clock_offset=offset)


async def test_the_branch_sees_each_device_its_clock_and_its_refusals(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    phone = await signed_in_phone(client, ctx, staff, timedelta(minutes=-4))
    job = (await add_jobs(staff, 1))[0]
    good = phone.update(job["id"], 1, notes="ok")
    bad = phone.update(job["id"], 2, status="completed")
    await phone.sync(good, bad)

    response = await client.get(
        "/api/dispatch/devices", headers=bearer(ctx.signer, world.dispatcher)
    )

    listed = parse_answer(DevicesList, response.json()).devices
    [device] = [d for d in listed if d.user_id == staff["id"]]
    assert (device.client_id, device.name, device.platform) == (
        "field-phone",
        "Galaxy A15",
        "android",
    )
    assert device.clock_skew_seconds is not None
    assert -300 < device.clock_skew_seconds < -180
    assert device.last_applied_mutation is not None
    assert device.last_applied_mutation.mutation_id == good["mutationId"]
    assert device.rejected_count == 1
    assert device.latest_refused is not None
    assert device.latest_refused.mutation_id == bad["mutationId"]
    assert device.latest_refused.code == "invalid_transition"
    assert all(d.user_id != world.staff_c["id"] for d in listed), "north staff are not listed"

    admin = await client.get("/api/dispatch/devices", headers=bearer(ctx.signer, world.admin))
    assert any(d["userId"] == staff["id"] for d in admin.json()["devices"])
