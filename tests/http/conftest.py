"""A real server process for the tests of what Sanic's own HTTP/1 server does (bodies left
off HEAD answers, the request-head limit): the in-process ASGI client never reaches it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.servers import running_instances
from tests.world import TEST_PASSWORD, World


@pytest.fixture(scope="module")
async def served(
    database_url: str, world: World, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """One server process on loopback for the module, on the session's database."""
    async with running_instances(database_url, tmp_path_factory.mktemp("served"), count=1) as (
        client,
    ):
        yield client


async def signed_in(client: httpx.AsyncClient, user: dict[str, Any]) -> dict[str, str]:
    """Bearer headers from a real sign-in (the server process has a signing key of its own)."""
    response = await client.post(
        "/api/mobile/auth/login",
        json={"email": user["email"], "password": TEST_PASSWORD, "device": {"id": "tests"}},
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()  # the session cookie would sign in every later request
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}
