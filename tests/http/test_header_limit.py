"""A request whose head (request line and headers) is too large gets 431 problem+json from
the real server, not a bare 413 or a dropped connection."""

from __future__ import annotations

import httpx
import pytest

from server.errors import MAX_HEADER_BYTES
from tests.problems import assert_problem


@pytest.mark.parametrize("size", [MAX_HEADER_BYTES + 1, 16 * MAX_HEADER_BYTES])
async def test_oversized_headers_are_431(served: httpx.AsyncClient, size: int) -> None:
    response = await served.get("/healthz", headers={"Cookie": "tinedy_access=" + "a" * size})
    problem = assert_problem(response, 431, "headers_too_large")
    assert str(MAX_HEADER_BYTES) in problem["detail"]


async def test_a_large_but_allowed_head_is_served(served: httpx.AsyncClient) -> None:
    response = await served.get("/healthz", headers={"X-Padding": "a" * (MAX_HEADER_BYTES // 2)})
    assert response.status_code == 200
