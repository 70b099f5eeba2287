"""A device and a person hold only so many live streams: past the cap a new SSE stream gets
429 with Retry-After and a WebSocket closes with 4429; a stream that ends frees its place."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.live_clients import LIVE, Listener, open_sse, open_ws, until
from tests.servers import running_instances
from tests.servers import sign_in as sign_in_as
from tests.world import World, add_staff


@pytest.fixture(scope="module")
async def server(
    database_url: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_instances(
        database_url,
        tmp_path_factory.mktemp("caps"),
        1,
        LIVE_STREAMS_PER_DEVICE="2",
        LIVE_STREAMS_PER_USER="3",
        LIVE_HEARTBEAT_SECONDS="0.5",  # a stream whose client left is noticed at its next one
    ) as (one,):
        yield one


async def test_a_device_and_a_person_hold_only_so_many_streams(
    server: httpx.AsyncClient, world: World
) -> None:
    person = await add_staff(world)
    phone = await sign_in_as(server, person, f"phone-{uuid.uuid4().hex[:8]}")
    tablet = await sign_in_as(server, person, f"tablet-{uuid.uuid4().hex[:8]}")
    open_streams: list[Listener] = []
    try:
        open_streams += [await open_sse(server, phone), await open_sse(server, phone)]
        assert [s.status for s in open_streams] == [200, 200]
        third = await server.get(LIVE, headers=phone)
        assert third.status_code == 429
        assert third.headers["content-type"] == "application/problem+json"
        assert 0 < int(third.headers["retry-after"]) <= 20
        socket = await open_ws(str(server.base_url), phone)
        await until(socket.ended.is_set, "the refused socket to close")
        assert socket.close_code == 4429

        open_streams.append(await open_sse(server, tablet))  # the person's third
        assert open_streams[-1].status == 200
        assert (await server.get(LIVE, headers=tablet)).status_code == 429  # the person's cap

        await open_streams.pop(0).stop()
        await until_opened(server, phone, open_streams)
    finally:
        for stream in open_streams:
            await stream.stop()


async def until_opened(
    server: httpx.AsyncClient, headers: dict[str, str], open_streams: list[Listener]
) -> None:
    """Open a stream once the server has noticed a client left (at most a heartbeat)."""
    for _ in range(20):
        stream = await open_sse(server, headers)
        if stream.status == 200:
            open_streams.append(stream)
            return
        await stream.stop()
        await asyncio.sleep(0.25)
    raise AssertionError("the place of the stream that ended was never freed")
