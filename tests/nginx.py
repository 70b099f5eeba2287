"""The reference edge (`cdn/edge`, started by `server.cluster.edge`) run as real nginx in front
of app processes, for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from server.cluster.edge import start_edge
from server.cluster.processes import free_port, stop
from tests.requirements import require_tool
from tests.servers import wait_for

NGINX_WHY = "apt-get install nginx (.ci/run installs it)"


def nginx_binary() -> str:
    """nginx's path; a skip here, a failure under CI=true, when it is missing."""
    return require_tool("nginx", NGINX_WHY)


@asynccontextmanager
async def running_edge(upstreams: list[str], tmp: Path) -> AsyncIterator[httpx.AsyncClient]:
    """nginx with the reference configuration in front of ``upstreams`` (``host:port``);
    a client of it. Always stopped."""
    binary = nginx_binary()
    port = free_port()
    run_dir = tmp / "nginx"
    process = start_edge(binary, upstreams, f"127.0.0.1:{port}", run_dir)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5)

    async def ready() -> bool:
        assert process.poll() is None, (run_dir / "error.log").read_text()
        try:
            return (await client.get("/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await wait_for(ready, "nginx to start")
        yield client
    finally:
        await client.aclose()
        stop([process], timeout=5)
