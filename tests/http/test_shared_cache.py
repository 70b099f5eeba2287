"""With CACHE_URL=redis://, one worker's encoded feed page serves the others."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import brotli
import httpx
import orjson
import pytest
import redis.asyncio as redis

from server.app import create_app, start_worker, stop_worker
from tests.conftest import make_settings
from tests.requirements import unavailable
from tests.world import World, bearer

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
async def redis_client() -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, redis.ConnectionError) as exc:
        await client.aclose()
        unavailable("Redis", f"unreachable at {REDIS_URL} ({exc}); the shared cache is untested")
    yield client
    await client.aclose()


async def started_app(database_url: str, data_dir: Path) -> Any:
    settings = make_settings(database_url, data_dir, cache_url=REDIS_URL)
    app = create_app(settings, name=f"tinedy_shared_{uuid.uuid4().hex[:8]}")
    app.asgi = True
    await app._startup()  # type: ignore[no-untyped-call]
    await start_worker(app)
    return app


async def fetch(app: Any, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/api/mobile/jobs", headers=headers)


async def test_a_page_built_by_one_worker_is_served_by_another(
    redis_client: redis.Redis, database_url: str, world: World, tmp_path: Path
) -> None:
    first, second = [await started_app(database_url, tmp_path) for _ in range(2)]
    try:
        headers = bearer(first.ctx.tinedy.signer, world.staff_a) | {"Accept-Encoding": "br"}
        built = await fetch(first, headers)
        assert built.status_code == 200
        validator = built.headers["etag"].strip('"').removesuffix("-br")
        stored = await redis_client.get(f"{validator}:br")
        assert isinstance(stored, bytes) and stored.startswith(b"br\n")

        # Mark the shared entry: the second worker must answer with it, not rebuild.
        marked = {**built.json(), "total": -1}
        await redis_client.set(f"{validator}:br", b"br\n" + brotli.compress(orjson.dumps(marked)))
        served = await fetch(second, headers)
        assert served.headers["etag"] == built.headers["etag"]
        assert served.json() == marked
    finally:
        for app in (first, second):
            await stop_worker(app)
