"""A live stream's own rules, in-process: heartbeats when quiet, the end at token expiry,
and a bounded queue that drops a client too slow to keep up."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import aclosing
from typing import Any

import httpx

from server.changes.queries import newest_change_id
from server.context import AppContext
from server.core.access import Principal, Role
from server.jobs.service import job_summaries
from server.live.hub import LiveHub
from server.live.stream import Closing, Heartbeat, live_events
from tests.servers import wait_for
from tests.world import TEST_PASSWORD, World, bearer


def staff_of(world: World) -> Principal:
    user = world.staff_a
    return Principal(user["id"], str(uuid.uuid4()), Role.STAFF, user["branch"], user["team"])


def team_update(change_id: int, team_id: str) -> dict[str, Any]:
    return {
        "id": change_id,
        "kind": "team.update",
        "job_id": None,
        "branch_id": None,
        "assignee_id": None,
        "previous_assignee_id": None,
        "device_id": None,
        "payload": {"teamId": team_id, "message": f"message {change_id}"},
    }


async def test_a_quiet_stream_sends_heartbeats(ctx: AppContext, world: World) -> None:
    stream = live_events(ctx.hub, staff_of(world), None, time.time() + 60, 0.05)
    async with aclosing(stream) as events:
        opening = await anext(events)  # where the stream starts
        assert opening == Heartbeat(ctx.hub.last_id)
        assert isinstance(await anext(events), Heartbeat)  # then one per quiet interval


async def test_a_stream_ends_when_its_token_expires(ctx: AppContext, world: World) -> None:
    started = time.monotonic()
    stream = live_events(ctx.hub, staff_of(world), None, time.time() + 0.3, 10)
    async with aclosing(stream) as events:
        received = [item async for item in events]
    assert received == [Heartbeat(ctx.hub.last_id), Closing("token_expired")]
    assert time.monotonic() - started < 2


async def test_a_client_too_slow_is_dropped_and_memory_stays_bounded(world: World) -> None:
    hub = LiveHub(job_summaries, queue_limit=8)
    principal = staff_of(world)
    subscriber = hub.subscribe(principal)
    await hub.publish([team_update(n, world.south_team) for n in range(1, 6)])
    assert subscriber.waiting == 5 and subscriber.ended is None

    await hub.publish([team_update(n, world.south_team) for n in range(6, 40)])

    assert subscriber.ended == "too_slow"
    assert subscriber.waiting == 0 and subscriber.take() is None, "what waited is dropped"
    await hub.publish([team_update(40, world.south_team)])
    assert subscriber.waiting == 0, "an ended stream takes nothing more"
    hub.unsubscribe(subscriber)


async def test_other_teams_updates_are_not_queued(world: World) -> None:
    hub = LiveHub(job_summaries, queue_limit=8)
    subscriber = hub.subscribe(staff_of(world))
    await hub.publish([team_update(1, world.north_team), team_update(2, world.south_team)])
    taken = subscriber.take()
    assert taken is not None and taken.id == 2
    assert subscriber.waiting == 0
    hub.unsubscribe(subscriber)


async def test_a_stream_opened_just_after_its_session_was_revoked_ends_at_once(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """The request was authenticated a moment before the revocation reached this worker, and
    the stream subscribes a moment after the hub fanned it out: it ends at once, not when
    its token expires."""
    body = {"email": world.staff_b["email"], "password": TEST_PASSWORD, "device": {"id": "x"}}
    signed_in = await client.post("/api/mobile/auth/login", json=body)
    client.cookies.clear()
    principal = ctx.signer.read_access(signed_in.json()["accessToken"])  # authenticated
    office = bearer(ctx.signer, world.dispatcher)
    revoked = await client.delete(f"/api/dispatch/devices/{principal.device_id}", headers=office)
    assert revoked.status_code == 204
    await ctx.mirror.catch_up()
    newest = await newest_change_id()

    async def fanned_out() -> bool:
        return ctx.hub.last_id >= newest

    await wait_for(fanned_out, "the hub to fan the revocation out")

    stream = live_events(ctx.hub, principal, None, time.time() + 600, 30)
    async with asyncio.timeout(5), aclosing(stream) as events:
        received = [item async for item in events]
    assert received[-1] == Closing("session_revoked")
