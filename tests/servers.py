"""Real server processes on loopback, for tests of what crosses between instances."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from server.cluster.processes import REPO_ROOT, start_app, stop
from server.cluster.processes import free_port as free_port
from tests.world import TEST_PASSWORD

ROOT = REPO_ROOT
SECRET = "shared-secret-for-both-instances-0123456789abcdef"
WAIT_SECONDS = 10.0
STOP_SECONDS = 3.0


async def wait_for(
    check: Callable[[], Awaitable[bool]], what: str, seconds: float = WAIT_SECONDS
) -> None:
    """Poll ``check`` every 50 ms, for at most ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def spawn_server(
    database_url: str, data_dir: Path, log: Path, port: int, settings: dict[str, str]
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET,
        "DATA_DIR": str(data_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "1",
        "CHANGE_POLL_SECONDS": "0.05",
        "DEMO": "false",
        # Webhook senders would deliver every test's webhooks from the shared database, signed
        # with this process's secret: a test that wants them asks (tests/webhooks).
        "WEBHOOK_SENDERS": "0",
        "ALERT_PLANNING": "false",  # likewise alerts: tests/alerts turns it on
        "RETENTION_SCHEDULE": "false",  # and the daily purges: tests/core/test_schedule.py
        **settings,
    }
    return start_app(env, log)  # its own process group: a test can kill it whole


def tail(log: Path) -> str:
    return log.read_text()[-2000:]


async def start_instance(
    database_url: str, data_dir: Path, log: Path, settings: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = spawn_server(database_url, data_dir, log, port, settings)
    base = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {tail(log)}")
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"{base}/readyz", timeout=1)).status_code == 200
        except httpx.TransportError:
            return False

    await wait_for(ready, "the server to start")
    return process, base


@asynccontextmanager
async def running_instances(
    database_url: str, tmp_path: Path, count: int = 2, **settings: str
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """``count`` server processes on one database, each with a client; always stopped.
    ``settings`` are more environment settings (``CHANGE_POLL_SECONDS="5"``)."""
    started = []
    clients = []
    try:
        for name in "abcdefgh"[:count]:
            started.append(
                await start_instance(
                    database_url, tmp_path / name, tmp_path / f"{name}.log", settings
                )
            )
        clients = [httpx.AsyncClient(base_url=base, timeout=5) for _, base in started]
        yield clients
    finally:
        for client in clients:
            await client.aclose()
        stop([process for process, _ in started], timeout=STOP_SECONDS)


async def sign_in(
    client: httpx.AsyncClient, user: dict[str, Any], device: str = "phone"
) -> dict[str, str]:
    """Sign ``user`` in over HTTP as device ``device``; the bearer header for its requests."""
    body = {"email": user["email"], "password": TEST_PASSWORD, "device": {"id": device}}
    response = await client.post("/api/mobile/auth/login", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}
