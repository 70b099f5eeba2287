"""With CACHE_URL=redis://, one worker's encoded feed page serves the others."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from server.app import create_app, start_worker, stop_worker
from tests.conftest import make_settings
from tests.world import World, bearer

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis_client() -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, redis.ConnectionError) as exc:
        await client.aclose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is needed under CI but unreachable: {exc}")
        pytest.skip(f"Redis unreachable ({exc}); the shared cache tier is untested here")
    yield client
    await client.aclose()


async def started_app(database_url: str, data_dir: Path) -> Any:
    settings = make_settings(database_url, data_dir, cache_url=REDIS_URL)
    app = create_app(settings, name=f"tinedy_shared_{uuid.uuid4().hex[:8]}")
    app.asgi = True
    await app._startup()  # type: ignore[no-untyped-call]
    await start_worker(app)
    return app


async def test_a_page_built_by_one_worker_is_served_by_another(
    redis_client: redis.Redis, database_url: str, world: World, tmp_path: Path
) -> None:
    first, second = [await started_app(database_url, tmp_path) for _ in range(2)]
    try:
        headers = bearer(first.ctx.tinedy.signer, world.staff_a) | {"Accept-Encoding": "br"}
        answers = []
        for app in (first, second):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                answers.append(await client.get("/api/mobile/jobs", headers=headers))
        assert answers[0].status_code == answers[1].status_code == 200
        assert answers[0].headers["etag"] == answers[1].headers["etag"]
        assert answers[0].json() == answers[1].json()
        validator = answers[0].headers["etag"].strip('"').removesuffix("-br")
        stored = await redis_client.get(f"{validator}:br")
        assert isinstance(stored, bytes) and stored.startswith(b"br\n")
    finally:
        for app in (first, second):
            await stop_worker(app)
