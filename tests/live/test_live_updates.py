"""Live updates across two real server processes on one database: delivered within a second
wherever the change was made, resumed with nothing missed or doubled, only to those
concerned, and ended when the session is.

On PostgreSQL the instances poll the change log only every 5 s, so delivery within a second
proves the LISTEN/NOTIFY wake-up; SQLite (one host) has only the poll.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.live_clients import LIVE, open_sse, open_ws, pass_barrier, until
from tests.servers import running_instances
from tests.servers import sign_in as sign_in_as
from tests.world import World, add_jobs, add_staff, add_user

DISPATCH = "/api/dispatch/jobs"


@pytest.fixture(scope="module")
async def instances(
    database_url: str, engine_kind: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[list[httpx.AsyncClient]]:
    poll = "5" if engine_kind == "postgres" else "0.05"
    async with running_instances(
        database_url, tmp_path_factory.mktemp("live"), CHANGE_POLL_SECONDS=poll
    ) as clients:
        yield clients


async def sign_in(client: httpx.AsyncClient, user: dict[str, Any]) -> dict[str, str]:
    """Each sign-in its own phone: a later one must not end an earlier one's session."""
    return await sign_in_as(client, user, f"phone-{uuid.uuid4().hex[:8]}")


async def staff_with_a_job(
    world: World, client: httpx.AsyncClient
) -> tuple[str, dict[str, str], dict[str, str]]:
    """A new staff member's job, their phone's headers and the dispatcher's, signed in on
    ``client``."""
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    return job["id"], await sign_in(client, staff), await sign_in(client, world.dispatcher)


async def test_a_change_on_one_instance_reaches_sse_and_websocket_clients_of_the_other(
    world: World, instances: list[httpx.AsyncClient]
) -> None:
    a, b = instances
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    phone = await sign_in(b, staff)
    sse = await open_sse(b, phone | {"Accept-Encoding": "gzip, br"})
    ws = await open_ws(str(b.base_url), phone)
    assert sse.headers["content-type"].startswith("text/event-stream")
    assert sse.headers["cache-control"].startswith("no-cache")
    assert sse.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in sse.headers, "a stream is never compressed"
    office = await sign_in(a, world.dispatcher)
    response = await a.patch(f"{DISPATCH}/{job['id']}", json={"priority": "urgent"}, headers=office)
    assert response.status_code == 200
    await until(lambda: sse.events and ws.events, "the event on both streams")
    for listener in (sse, ws):
        [event] = listener.events
        assert event.name == "priority-alert"
        assert event.data["job"]["id"] == job["id"]
        assert event.data["job"]["priority"] == "urgent"
        assert "notes" not in event.data["job"]
    assert sse.events[0].id == ws.events[0].id
    await sse.stop()
    await ws.stop()


async def test_a_reconnect_gets_every_missed_event_in_order_once_then_live_ones(
    world: World, instances: list[httpx.AsyncClient]
) -> None:
    a, b = instances
    job_id, phone, office = await staff_with_a_job(world, a)
    first = await open_sse(a, phone)
    await a.patch(f"{DISPATCH}/{job_id}", json={"notes": "one"}, headers=office)
    await until(lambda: first.events, "the first event")
    last_seen = first.events[-1].id
    await first.stop()  # into the lift

    for note in ("two", "three", "four"):
        await a.patch(f"{DISPATCH}/{job_id}", json={"notes": note}, headers=office)
    resumed = await open_sse(b, phone, last_event_id=last_seen)
    await until(lambda: len(resumed.events) == 3, "the three missed events")
    await a.patch(f"{DISPATCH}/{job_id}", json={"notes": "five"}, headers=office)
    barrier = await pass_barrier(a, [(office, world.south_team)], [resumed])

    ids = [event.id for event in resumed.before(barrier)]
    assert ids == sorted(set(ids)) and len(ids) == 4 and ids[0] > last_seen
    assert [event.name for event in resumed.before(barrier)] == ["job-updated"] * 4
    ws = await open_ws(str(b.base_url), phone, f"?lastEventId={last_seen}")
    await until(lambda: any(e.id == barrier for e in ws.events), "the same over the WebSocket")
    assert [event.id for event in ws.before(barrier)] == ids
    await resumed.stop()
    await ws.stop()


async def test_only_those_concerned_hear_and_a_reassignment_tells_both(
    world: World, instances: list[httpx.AsyncClient]
) -> None:
    a, b = instances
    giver, taker, bystander = [await add_staff(world) for _ in range(3)]
    north_dispatcher = await add_user("dispatcher", world.north, None)
    job = (await add_jobs(giver, 1))[0]
    await add_jobs(bystander, 1)
    streams = {
        "giver": await open_sse(b, await sign_in(b, giver)),
        "taker": await open_sse(a, await sign_in(a, taker)),
        "bystander": await open_sse(b, await sign_in(b, bystander)),
        "north": await open_sse(a, await sign_in(a, north_dispatcher)),
        "south": await open_sse(b, await sign_in(b, world.dispatcher)),
    }
    office = await sign_in(a, world.dispatcher)

    moved = await a.post(
        f"{DISPATCH}/{job['id']}/assign", json={"assigneeId": taker["id"]}, headers=office
    )
    assert moved.status_code == 200
    await until(
        lambda: all(streams[n].events for n in ("giver", "taker", "south")), "the three audiences"
    )
    everyone = list(streams.values())
    north_office = await sign_in(a, north_dispatcher)
    teams = [(office, world.south_team), (north_office, world.north_team)]
    barrier = await pass_barrier(a, teams, everyone)
    heard = {name: [e.name for e in stream.before(barrier)] for name, stream in streams.items()}

    assert heard["giver"] == ["job-unassigned"]
    assert heard["taker"] == ["job-assigned"]
    assert heard["south"] == ["job-assigned"]
    assert heard["bystander"] == [] and heard["north"] == []
    assert streams["taker"].events[0].data["job"]["assigneeId"] == taker["id"]
    for stream in streams.values():
        await stream.stop()


async def test_team_updates_reach_the_team_and_its_dispatchers(
    world: World, instances: list[httpx.AsyncClient]
) -> None:
    a, b = instances
    member = await add_staff(world)
    other_team = await add_staff(world, "north")
    member_stream = await open_sse(b, await sign_in(b, member))
    other_stream = await open_sse(b, await sign_in(b, other_team))
    office = await sign_in(a, world.dispatcher)

    sent = await a.post(
        "/api/dispatch/team-updates",
        json={"teamId": world.south_team, "message": "รหัสประตูคอนโดเปลี่ยนเป็น 4411"},
        headers=office,
    )
    assert sent.status_code == 202, sent.text
    sent_id = sent.json()["eventId"]
    await until(lambda: any(e.id >= sent_id for e in member_stream.events), "the team update")
    # A stream starts where its worker's mirror stands: a moment behind, it may also carry
    # what came just before it opened; after the update, nothing else.
    [event] = [e for e in member_stream.events if e.id >= sent_id]
    assert (event.name, event.id) == ("team-update", sent.json()["eventId"])
    assert event.data["message"] == "รหัสประตูคอนโดเปลี่ยนเป็น 4411"
    north_office = await sign_in(a, await add_user("dispatcher", world.north, None))
    barrier = await pass_barrier(a, [(north_office, world.north_team)], [other_stream])
    # Only the south team's update is not theirs (an earlier north barrier may arrive too).
    assert [e for e in other_stream.before(barrier) if e.id >= sent_id] == []
    elsewhere = await a.post(
        "/api/dispatch/team-updates",
        json={"teamId": world.north_team, "message": "not yours"},
        headers=office,
    )
    assert elsewhere.status_code == 404
    assert elsewhere.json()["code"] == "team_not_found"
    as_staff = await a.post(
        "/api/dispatch/team-updates",
        json={"teamId": world.south_team, "message": "x"},
        headers=await sign_in(a, member),
    )
    assert as_staff.status_code == 403
    await member_stream.stop()
    await other_stream.stop()


async def test_signing_out_ends_the_stream_on_every_instance(
    world: World, instances: list[httpx.AsyncClient]
) -> None:
    a, b = instances
    staff = await add_staff(world)
    phone = await sign_in(a, staff)
    sse = await open_sse(b, phone)
    ws = await open_ws(str(b.base_url), phone)
    assert (await a.post("/api/mobile/auth/logout", headers=phone)).status_code == 204
    await asyncio.wait_for(asyncio.gather(sse.ended.wait(), ws.ended.wait()), 5)
    assert sse.status == 200
    assert sse.closing == ws.closing == "session_revoked"


async def test_refusals(world: World, instances: list[httpx.AsyncClient]) -> None:
    a, _ = instances
    phone = await sign_in(a, world.staff_a)
    in_url = await a.get(f"{LIVE}?access_token=abc", headers=phone)
    assert (in_url.status_code, in_url.json()["code"]) == (400, "token_in_url")
    garbled = await a.get(LIVE, headers=phone | {"Last-Event-ID": "twelve"})
    assert (garbled.status_code, garbled.json()["code"]) == (400, "invalid_cursor")
    async with httpx.AsyncClient(base_url=a.base_url) as no_cookies:
        assert (await no_cookies.get(LIVE)).status_code == 401
    foreign = await open_ws(str(a.base_url), phone | {"Origin": "https://evil.example"})
    await asyncio.wait_for(foreign.ended.wait(), 5)
    assert foreign.close_code == 4403
    anonymous = await open_ws(str(a.base_url), {})
    await asyncio.wait_for(anonymous.ended.wait(), 5)
    assert anonymous.close_code == 4401
    own = await open_ws(str(a.base_url), phone | {"Origin": str(a.base_url)})
    await pass_barrier(a, [(await sign_in(a, world.dispatcher), world.south_team)], [own])
    assert not own.ended.is_set()
    await own.stop()


async def test_open_streams_are_counted_on_metrics(
    world: World, instances: list[httpx.AsyncClient]
) -> None:
    a, _ = instances
    phone = await sign_in(a, world.staff_b)

    def open_streams(text: str) -> float:
        line = next(x for x in text.splitlines() if x.startswith("tinedy_live_streams"))
        return float(line.split()[-1])

    before = open_streams((await a.get("/metrics")).text)
    streams = [await open_sse(a, phone) for _ in range(3)]
    assert open_streams((await a.get("/metrics")).text) == before + 3
    for stream in streams:
        await stream.stop()
    for _ in range(100):  # the server notices each hang-up and forgets the stream
        if open_streams((await a.get("/metrics")).text) == before:
            break
        await asyncio.sleep(0.05)
    assert open_streams((await a.get("/metrics")).text) == before


async def test_a_killed_listening_connection_reconnects_and_loses_nothing(
    world: World, instances: list[httpx.AsyncClient], database_url: str, engine_kind: str
) -> None:
    if engine_kind != "postgres":
        pytest.skip("SQLite has no listening connection: its poll alone delivers")
    a, b = instances
    job_id, phone, office = await staff_with_a_job(world, a)
    sse = await open_sse(b, phone)
    database = await asyncpg.connect(database_url)
    listeners = (
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name = 'tinedy-change-listener'"
    )
    try:
        # One per instance (an idle app another test left running may add its own).
        before = {row["pid"] for row in await database.fetch(listeners)}
        assert len(before) >= 2, "one listening connection per instance"
        await database.execute(f"SELECT pg_terminate_backend(pid) FROM ({listeners}) AS listening")
        await a.patch(f"{DISPATCH}/{job_id}", json={"notes": "while cut off"}, headers=office)

        async def listening_again() -> bool:
            after = {row["pid"] for row in await database.fetch(listeners)}
            return len(after) == len(before) and not after & before

        for _ in range(100):
            if await listening_again():
                break
            await asyncio.sleep(0.05)
        assert await listening_again(), "both instances listen again"
    finally:
        await database.close()
    await until(lambda: len(sse.events) == 1, "the change made while cut off")
    await a.patch(f"{DISPATCH}/{job_id}", json={"notes": "after"}, headers=office)
    await until(lambda: len(sse.events) == 2, "the change after reconnecting")
    await sse.stop()


async def test_a_stream_states_its_position_so_a_quiet_client_can_resume(
    world: World, instances: list[httpx.AsyncClient]
) -> None:
    a, b = instances
    job_id, phone, office = await staff_with_a_job(world, a)
    quiet = await open_sse(a, phone)
    await until(lambda: quiet.position is not None, "the stream's opening position")
    await quiet.stop()
    await a.patch(f"{DISPATCH}/{job_id}", json={"priority": "high"}, headers=office)
    resumed = await open_sse(b, phone | {"Last-Event-ID": str(quiet.position)})
    await until(lambda: resumed.events, "the change made while away")
    assert resumed.names() == ["job-updated"]
    await resumed.stop()
    unknown = await open_sse(b, phone | {"Last-Event-ID": "99999999999"})
    await until(lambda: unknown.events, "a reset for an id the log never gave out")
    assert unknown.names() == ["reset"]
    await unknown.stop()
