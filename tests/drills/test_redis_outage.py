"""Drill: Redis (the shared feed cache, rate limits and sign-in throttle) stops while the app
serves. The app keeps serving the feed and logins, still throttling failed ones, per process;
it warns once, says "degraded" in /readyz (still 200), and goes back to Redis when it returns."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from server.core.shared_store import RETRY_SECONDS
from tests.drills.load import ANSWER_SECONDS
from tests.drills.services import PrivatePostgres, private_redis, stop_app
from tests.servers import sign_in, start_instance, wait_for
from tests.windows import QUARTER_HOUR, clear_of_a_window_edge
from tests.world import World, add_jobs, add_staff

pytestmark = pytest.mark.drill

LOGIN = "/api/mobile/auth/login"


async def checks(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    found: dict[str, str] = response.json()["checks"]
    return found


async def failed_logins_until_throttled(client: httpx.AsyncClient, email: str) -> list[int]:
    """Wrong passwords until the throttle answers 429 (at most ten tries), from a client
    without the owner's cookies (their device cookie has a budget of its own)."""
    client.cookies.clear()
    clear_of_a_window_edge(QUARTER_HOUR, 30)
    statuses = []
    for _ in range(10):
        body = {"email": email, "password": "not the password"}
        statuses.append((await client.post(LOGIN, json=body)).status_code)
        if statuses[-1] == 429:
            break
    return statuses


async def test_the_app_serves_through_a_redis_outage_and_shares_again_after(
    drill_postgres: PrivatePostgres, drill_world: World, tmp_path: Path
) -> None:
    staff = await add_staff(drill_world)
    await add_jobs(staff, 5)
    with private_redis(tmp_path / "redis.log") as redis:
        settings = {
            "CACHE_URL": redis.url,
            "RATE_LIMIT_URL": redis.url,
            "LOGIN_FAILURES_PER_ACCOUNT": "3 per 15 minutes",
            "PHOTO_PROCESSING_WORKERS": "0",
            "PUSH_SENDERS": "0",
        }
        log = tmp_path / "app.log"
        process, base = await start_instance(drill_postgres.url, tmp_path / "app", log, settings)
        store = aioredis.Redis(port=redis.port)
        try:
            async with httpx.AsyncClient(base_url=base, timeout=ANSWER_SECONDS) as client:
                assert await checks(client) == {
                    "database": "ok",
                    "cache": "ok",
                    "rateLimit": "ok",
                    "webhooks": "ok",
                }
                headers = await sign_in(client, staff)
                assert (await client.get("/api/mobile/jobs", headers=headers)).status_code == 200
                assert await store.dbsize() > 0, "feed pages are in Redis"

                redis.stop()
                # Every answer comes within the client's timeout: a hang would raise.
                for n in range(20):
                    feed = await client.get(f"/api/mobile/jobs?limit={n + 1}", headers=headers)
                    assert feed.status_code == 200
                headers = await sign_in(client, staff)  # signing in works too
                assert await failed_logins_until_throttled(client, staff["email"]) == [
                    401,
                    401,
                    401,
                    429,
                ], "still throttled, per process"
                during = await checks(client)
                assert during["database"] == "ok"
                assert during["cache"].startswith("degraded: ")
                assert during["rateLimit"].startswith("degraded: ")

                redis.start()  # empty: it kept nothing

                async def shared_again() -> bool:
                    return set((await checks(client)).values()) == {"ok"}

                await wait_for(shared_again, "the app to use Redis again", RETRY_SECONDS * 3)
                page = await client.get("/api/mobile/jobs?limit=42", headers=headers)  # a new one
                assert page.status_code == 200
                other = await add_staff(drill_world)
                assert (await failed_logins_until_throttled(client, other["email"]))[-1] == 429
                kept = [key.decode() for key in await store.keys("*")]
                assert any(key.startswith("LIMITS") for key in kept), "failures counted there"
                assert any(not key.startswith("LIMITS") for key in kept), "pages kept there"
        finally:
            await store.aclose()
            stop_app(process)
    text = log.read_text()
    for name in ("feed cache", "rate limits"):  # the sign-in throttle counts there too
        assert text.count(f"{name}: the shared store failed") == 1, "one warning, not one each"
        assert text.count(f"{name}: the shared store answers again") == 1
