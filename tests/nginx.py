"""The reference edge (`cdn/edge`) run as real nginx in front of app processes, for tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from cdn.edge.__main__ import render
from tests.servers import free_port, wait_for

IN_CI = os.environ.get("CI") == "true"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )
    if found is None:
        if IN_CI:
            pytest.fail("nginx is required under CI (.ci/run installs it)")
        pytest.skip("nginx is not installed here (apt-get install nginx); CI installs it")
    return found


def start_nginx(binary: str, conf: Path, log: Path) -> subprocess.Popen[bytes]:
    """nginx in the foreground; as root its workers stay root to write the test's folders."""
    extra = ["-g", "user root;"] if os.geteuid() == 0 else []
    return subprocess.Popen(
        [binary, "-c", str(conf), "-e", str(log), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


@asynccontextmanager
async def running_edge(upstreams: list[str], tmp: Path) -> AsyncIterator[httpx.AsyncClient]:
    """nginx with the reference configuration in front of ``upstreams`` (``host:port``);
    a client of it. Always stopped."""
    binary = nginx_binary()
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(render(upstreams, f"127.0.0.1:{port}", tmp / "run"))
    process = start_nginx(binary, conf, tmp / "startup.log")
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5)

    async def ready() -> bool:
        assert process.poll() is None, (tmp / "startup.log").read_text()
        try:
            return (await client.get("/healthz")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await wait_for(ready, "nginx to start")
        yield client
    finally:
        await client.aclose()
        process.terminate()
        process.wait(timeout=5)
