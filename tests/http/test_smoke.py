from __future__ import annotations

import httpx

from server.context import AppContext
from tests.world import World, bearer


async def test_staff_sees_own_jobs(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    response = await client.get("/api/mobile/jobs", headers=bearer(ctx.signer, world.staff_a))
    assert response.status_code == 200
    assert response.json()["total"] == 12
