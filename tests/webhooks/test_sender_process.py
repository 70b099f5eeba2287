"""The reference client against a real server: ``examples/crm_mirror.py`` upserts the sample
bookings and registers its receiver, and the server's own webhook sender process
(WEBHOOK_SENDERS) delivers an office change to it, which verifies the signature and prints
the event."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from server.auth.tokens import TokenSigner
from server.integration.keys import create_api_key
from tests.phones import Dispatcher
from tests.servers import ROOT, SECRET, free_port, running_instances, wait_for
from tests.world import World

pytestmark = pytest.mark.usefixtures("no_webhook_left")
EXAMPLE = ROOT / "examples" / "crm_mirror.py"


def start_mirror(server: str, listen: str, key: str, output: Path) -> subprocess.Popen[bytes]:
    """The reference client, as its docs run it, for at most half a minute."""
    with output.open("wb") as out:
        command = [sys.executable, str(EXAMPLE), "--server", server, "--listen", listen]
        return subprocess.Popen(
            [*command, "--seconds", "30"],
            env={"TINEDY_API_KEY": key, "PATH": "/usr/bin:/bin"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_the_reference_client_receives_from_the_servers_sender(
    app: Any, database_url: str, tmp_path: Path, world: World
) -> None:
    key = (await create_api_key("crm-mirror", ["all"])).key
    listen = f"127.0.0.1:{free_port()}"
    ctx = dataclasses.replace(app.ctx.tinedy, signer=TokenSigner(SECRET, 900, 3600))
    output = tmp_path / "crm_mirror.out"
    async with running_instances(
        database_url,
        tmp_path,
        count=1,
        WEBHOOK_SENDERS="1",
        WEBHOOK_ALLOWED_ORIGINS=f"http://{listen}",
        WEBHOOK_POLL_SECONDS="0.1",
        PUSH_SENDERS="0",
        PHOTO_PROCESSING_WORKERS="0",
    ) as (server,):
        mirror = start_mirror(str(server.base_url), listen, key, output)
        try:

            async def listening() -> bool:
                assert mirror.poll() is None, output.read_text()
                return "receiving webhooks" in output.read_text()

            await wait_for(listening, "the reference client to listen", seconds=20)
            booking = await server.get(
                "/api/integration/v1/jobs/BK-1002", headers={"Authorization": f"Bearer {key}"}
            )
            job_id = booking.json()["job"]["id"]
            office = Dispatcher(server, ctx, world.admin)
            assert (await office.edit(job_id, status="cancelled")).status_code == 200

            async def printed() -> bool:
                return "job.status_changed job=BK-1002 status=cancelled" in output.read_text()

            await wait_for(printed, "the client to print the verified event", seconds=20)
        finally:
            mirror.terminate()
            await asyncio.to_thread(mirror.wait, 10)
    text = output.read_text()
    assert "jobs/BK-1001: created" in text and "customers/CU-501: up to date" in text
