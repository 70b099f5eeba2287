"""``Server-Timing`` tells browser devtools where an answer's time went: in database queries
(``db``), in serialising and compressing (``encode``) and in all (``total``)."""

from __future__ import annotations

import re

import httpx

from server.context import AppContext
from tests.world import World, add_jobs, add_staff, bearer

ENTRY = re.compile(r"^(?P<name>[a-z]+);dur=(?P<dur>\d+(?:\.\d+)?)$")


def timings(response: httpx.Response) -> dict[str, float]:
    """The header parsed as RFC 8673 lists it: ``name;dur=milliseconds`` entries."""
    found = {}
    for entry in response.headers["server-timing"].split(","):
        match = ENTRY.match(entry.strip())
        assert match, entry
        found[match["name"]] = float(match["dur"])
    return found


async def test_a_database_backed_get_shows_db_and_encode_time(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    staff = await add_staff(world)
    job = (await add_jobs(staff, 1))[0]["id"]
    headers = {**bearer(ctx.signer, staff), "Accept-Encoding": "br"}
    response = await client.get(f"/api/mobile/jobs/{job}", headers=headers)
    assert response.status_code == 200
    spent = timings(response)
    assert set(spent) == {"db", "encode", "total"}
    assert spent["db"] > 0
    assert spent["encode"] > 0
    assert spent["total"] >= spent["db"] + spent["encode"]


async def test_a_cached_answer_spends_no_encoding(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    headers = {**bearer(ctx.signer, world.staff_a), "Accept-Encoding": "br"}
    first = await client.get("/api/mobile/jobs", headers=headers)
    cached = await client.get("/api/mobile/jobs", headers=headers)
    assert cached.content == first.content
    assert timings(cached)["encode"] == 0
    revalidated = await client.get(
        "/api/mobile/jobs", headers={**headers, "If-None-Match": first.headers["etag"]}
    )
    assert revalidated.status_code == 304
    assert timings(revalidated)["db"] == 0


async def test_errors_carry_it_too(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/mobile/jobs")
    assert response.status_code == 401
    assert set(timings(response)) == {"db", "encode", "total"}
