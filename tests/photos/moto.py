"""moto's standalone S3 server on loopback, for the S3 photo store (tests only)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiobotocore.session import get_session

from server.cluster.processes import free_port
from server.photos.storage.s3 import S3Location
from tests.requirements import unavailable

MOTO_START_SECONDS = 30.0
ACCESS_KEY, SECRET_KEY = "testing-key", "testing-secret"


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's standalone S3 server as its own process; fails under CI=true if it cannot start."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        problem = _wait_for_moto(server, endpoint, log)
        if problem:
            unavailable("moto's S3 server", f"did not start: {problem}")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_moto(server: subprocess.Popen[bytes], endpoint: str, log: Path) -> str:
    """Empty when the server answers; otherwise why not."""
    deadline = time.monotonic() + MOTO_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return f"exited with {server.returncode}: {log.read_text()[-500:]}"
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
            return ""
        except httpx.TransportError:
            time.sleep(0.1)
    return f"no answer within {MOTO_START_SECONDS:.0f}s"


async def new_bucket(endpoint: str) -> S3Location:
    location = S3Location(
        bucket=f"photos-{uuid.uuid4().hex[:12]}",
        endpoint_url=endpoint,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    async with get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=location.region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    ) as client:
        await client.create_bucket(Bucket=location.bucket)
    return location
