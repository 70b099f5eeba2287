"""HEAD is answered wherever GET is, by a real server: the GET's status and headers (ETag,
Content-Length of the body, caching), no body; conditional HEAD gets 304."""

from __future__ import annotations

import httpx
import pytest

from tests.http.conftest import signed_in
from tests.world import World

CARRIED_OVER = ("etag", "content-type", "content-encoding", "cache-control", "vary")


def paths(world: World) -> dict[str, str]:
    return {
        "feed": "/api/mobile/jobs?limit=5",
        "job": f"/api/mobile/jobs/{world.jobs[world.staff_a['id']][0]}",
        "manifest": "/manifest.webmanifest",
        "openapi": "/openapi.json",
        "healthz": "/healthz",
    }


@pytest.mark.parametrize("name", ["feed", "job", "manifest", "openapi", "healthz"])
@pytest.mark.parametrize("accept_encoding", ["br", "identity"])
async def test_head_sends_the_headers_of_get_without_the_body(
    served: httpx.AsyncClient, world: World, name: str, accept_encoding: str
) -> None:
    headers = {**await signed_in(served, world.staff_a), "Accept-Encoding": accept_encoding}
    get = await served.get(paths(world)[name], headers=headers)
    head = await served.head(paths(world)[name], headers=headers)
    assert get.status_code == head.status_code == 200
    assert head.content == b""
    for header in CARRIED_OVER:
        assert head.headers.get(header) == get.headers.get(header), header
    assert int(head.headers["content-length"]) == get.num_bytes_downloaded


async def test_conditional_head_is_304(served: httpx.AsyncClient, world: World) -> None:
    headers = {**await signed_in(served, world.staff_a), "Accept-Encoding": "br"}
    etag = (await served.head("/api/mobile/jobs", headers=headers)).headers["etag"]
    again = await served.head("/api/mobile/jobs", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert again.content == b""


async def test_head_without_credentials_is_401_without_a_body(
    served: httpx.AsyncClient,
) -> None:
    response = await served.head("/api/mobile/jobs")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.content == b""


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/mobile/auth/login", "POST"),
        # A live stream is GET only: its headers leave at once and a HEAD would hold it open.
        ("/api/mobile/live-updates", "GET"),
    ],
)
async def test_head_where_there_is_no_get_is_405(
    served: httpx.AsyncClient, path: str, allowed: str
) -> None:
    response = await served.head(path)
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == allowed
    assert response.content == b""


async def test_openapi_leaves_head_implied(served: httpx.AsyncClient) -> None:
    spec = (await served.get("/openapi.json")).json()
    assert not [path for path, item in spec["paths"].items() if "head" in item]
    assert "get" in spec["paths"]["/api/mobile/jobs"]
