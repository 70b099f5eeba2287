"""Drill: one of two instances behind the reference nginx edge is killed (SIGKILL) under
load. nginx routes around it, so requests keep succeeding (at most those in flight on it
fail), and the live streams it held reconnect through nginx to the other instance and
resume from their last event id: every change reaches every stream once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from server.changes.publish import publish_visible
from server.changes.queries import changes_after, newest_change_id, newest_id_through
from tests.drills.clients import ResumingStream
from tests.drills.load import ANSWER_SECONDS, Load
from tests.drills.services import PrivatePostgres, stop_app
from tests.live_clients import until
from tests.nginx import running_edge
from tests.servers import sign_in, start_instance, wait_for
from tests.world import World, add_jobs, add_staff

pytestmark = pytest.mark.drill

STREAMS = 6
LOAD_WORKERS = 2
APP_SETTINGS = {
    "LIVE_HEARTBEAT_SECONDS": "1",
    "LIVE_STREAMS_PER_DEVICE": str(STREAMS),  # every stream is one phone's: all land on one
    "PHOTO_PROCESSING_WORKERS": "0",
    "PUSH_SENDERS": "0",
}


@asynccontextmanager
async def two_instances(
    database_url: str, tmp_path: Path
) -> AsyncIterator[list[tuple[subprocess.Popen[bytes], str]]]:
    started = []
    try:
        for name in ("a", "b"):
            started.append(
                await start_instance(
                    database_url, tmp_path / name, tmp_path / f"{name}.log", APP_SETTINGS
                )
            )
        yield started
    finally:
        for process, _ in started:
            stop_app(process)


async def open_streams(base: str) -> int:
    """How many live streams an instance holds, from its own /metrics."""
    async with httpx.AsyncClient(base_url=base, timeout=5) as direct:
        text = (await direct.get("/metrics")).text
    line = next(line for line in text.splitlines() if line.startswith("tinedy_live_streams "))
    return int(float(line.split()[1]))


async def test_killing_an_instance_behind_nginx_loses_no_request_and_no_event(
    drill_postgres: PrivatePostgres, drill_world: World, tmp_path: Path
) -> None:
    staff = await add_staff(drill_world)
    job_id = (await add_jobs(staff, 1))[0]["id"]
    before = await newest_change_id()
    async with two_instances(drill_postgres.url, tmp_path) as instances:
        upstreams = [base.removeprefix("http://") for _, base in instances]
        async with running_edge(upstreams, tmp_path / "edge") as edge:
            edge.timeout = httpx.Timeout(ANSWER_SECONDS * 2)
            office = await sign_in(edge, drill_world.dispatcher)
            phone = await sign_in(edge, staff)
            streams = [ResumingStream(edge, phone) for _ in range(STREAMS)]

            async def edit_or_read(n: int) -> tuple[str, httpx.Response]:
                if n % 2:
                    return "read", await edge.get("/api/mobile/jobs", headers=phone)
                body = {"notes": f"note {n}"}
                path = f"/api/dispatch/jobs/{job_id}"
                return "edit", await edge.patch(path, json=body, headers=office)

            load = Load(edit_or_read, workers=LOAD_WORKERS)
            try:
                for stream in streams:
                    await stream.start()
                held: list[int] = []

                async def all_streams_held() -> bool:
                    held[:] = [await open_streams(base) for _, base in instances]
                    return sum(held) == STREAMS

                await wait_for(all_streams_held, "both instances to hold the streams", 10)
                victim = instances[held.index(max(held))]
                load.start()

                async def edits_since(moment: float) -> bool:
                    fresh = load.since(moment)
                    return sum(a.what == "edit" and a.status == 200 for a in fresh) >= 6

                await wait_for(lambda: edits_since(0), "edits through both instances", 15)
                os.killpg(victim[0].pid, signal.SIGKILL)
                victim[0].wait(timeout=10)
                killed_at = time.monotonic()
                await wait_for(lambda: edits_since(killed_at), "edits after the kill", 15)
                answers = await load.stop()

                async def settled() -> bool:  # the killed writer's rows, published by others
                    return await publish_visible() == await newest_id_through(2**62)

                await wait_for(settled, "the head to pass every committed row", 15)
                written = [
                    row["id"]
                    for row in await changes_after(before, 10_000)
                    if str(row["job_id"]) == job_id
                ]
                await until(
                    lambda: all({e.id for e in s.events} >= set(written) for s in streams),
                    "every stream to hear every change",
                    seconds=15,
                )
            finally:
                await load.stop()
                for stream in streams:
                    await stream.stop()

    failed = [a for a in answers if a.status != 200]
    assert len(failed) <= LOAD_WORKERS, f"only requests in flight at the kill fail: {failed}"
    assert all(a.at - killed_at < ANSWER_SECONDS for a in failed)
    assert [a for a in answers if a.seconds > ANSWER_SECONDS] == [], "no answer hung"
    assert sum(a.status == 200 for a in load.since(killed_at)) >= 6
    moved = [s for s in streams if s.connections > 1]
    assert len(moved) >= max(held), "the killed instance's streams reconnected"
    for stream in streams:
        heard = [e.id for e in stream.events if e.data.get("job", {}).get("id") == job_id]
        assert heard == written, "each change once, in order, none lost across the move"
