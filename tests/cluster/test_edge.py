"""The reference edge (`cdn/edge`) with real nginx in front of a real app process: the shell
and assets come from the edge cache, per-user answers never do, a revalidation passes
through, and live events pass unbuffered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.live_clients import open_sse, until
from tests.nginx import running_edge
from tests.servers import running_instances, sign_in
from tests.world import World, add_jobs, add_staff


@pytest.fixture(scope="module")
async def edge(
    database_url: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    tmp = tmp_path_factory.mktemp("edge")
    async with running_instances(database_url, tmp, count=1) as (app,):
        upstream = str(app.base_url).removeprefix("http://").rstrip("/")
        async with running_edge([upstream], tmp) as client:
            yield client


async def test_the_shell_and_assets_come_from_the_edge_cache(edge: httpx.AsyncClient) -> None:
    br = {"Accept-Encoding": "br"}
    first = await edge.get("/", headers=br)
    second = await edge.get("/", headers=br)
    assert second.headers["x-cache"] == "HIT"
    assert second.content == first.content
    asset = next(line for line in first.text.split('"') if line.startswith("/static/app."))
    await edge.get(asset, headers=br)
    cached = await edge.get(asset, headers=br)
    assert cached.headers["x-cache"] == "HIT"
    assert cached.headers["content-encoding"] == "br"
    assert cached.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = await edge.get(asset, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers, "each encoding is its own cache entry"


async def test_per_user_answers_are_never_cached_and_revalidation_passes(
    edge: httpx.AsyncClient, world: World
) -> None:
    staff = await add_staff(world)
    await add_jobs(staff, 2)
    headers = await sign_in(edge, staff)
    for path in ("/api/mobile/jobs", "/manifest.webmanifest", "/sw.js"):
        await edge.get(path, headers=headers)
        again = await edge.get(path, headers=headers)
        assert again.headers.get("x-cache", "") != "HIT", path
    page = await edge.get("/api/mobile/jobs", headers=headers)
    revalidated = await edge.get(
        "/api/mobile/jobs", headers=headers | {"If-None-Match": page.headers["etag"]}
    )
    assert revalidated.status_code == 304
    someone_else = await sign_in(edge, world.staff_c)
    theirs = await edge.get("/api/mobile/jobs", headers=someone_else)
    assert theirs.json()["jobs"] != page.json()["jobs"]


async def test_live_events_pass_the_edge_unbuffered(edge: httpx.AsyncClient, world: World) -> None:
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]
    stream = await open_sse(edge, await sign_in(edge, staff))
    office = await sign_in(edge, world.dispatcher)
    started = asyncio.get_running_loop().time()
    changed = await edge.patch(
        f"/api/dispatch/jobs/{job['id']}", json={"priority": "urgent"}, headers=office
    )
    assert changed.status_code == 200
    await until(lambda: stream.events, "the event through nginx", seconds=1.0)
    assert asyncio.get_running_loop().time() - started < 1.0
    assert stream.events[0].name == "priority-alert"
    await stream.stop()
