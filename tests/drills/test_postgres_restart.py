"""Drill: PostgreSQL restarts under load. While it is down every request answers within
seconds (503 problem+json, never a hang), the app's pools come back by themselves, and a
live stream misses nothing that was written."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from server.changes.listen import APPLICATION_NAME as LISTENER_NAME
from server.changes.queries import changes_after, newest_change_id, newest_id_through
from tests.drills.clients import ResumingStream
from tests.drills.load import ANSWER_SECONDS, Load
from tests.drills.services import PrivatePostgres, stop_app
from tests.live_clients import until
from tests.servers import sign_in, start_instance, tail, wait_for
from tests.world import TEST_PASSWORD, World, add_jobs, add_staff

pytestmark = pytest.mark.drill

PROBLEM = "application/problem+json"
APP_SETTINGS = {
    "DB_CONNECT_TIMEOUT_SECONDS": "2",
    "DB_COMMAND_TIMEOUT_SECONDS": "5",
    "LIVE_HEARTBEAT_SECONDS": "1",
    "PHOTO_PROCESSING_WORKERS": "0",
    "PUSH_SENDERS": "0",
}


def is_outage_answer(response: httpx.Response) -> bool:
    return (
        response.status_code == 503
        and response.headers["content-type"] == PROBLEM
        and response.json()["code"] == "database_unavailable"
        and int(response.headers["retry-after"]) > 0
    )


async def listening_connections(database_url: str) -> int:
    connection = await asyncpg.connect(database_url, timeout=5)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            LISTENER_NAME,
        )
        return count
    finally:
        await connection.close()


async def test_a_postgres_restart_under_load_fails_fast_then_recovers_losing_nothing(
    drill_postgres: PrivatePostgres, drill_world: World, tmp_path: Path
) -> None:
    staff = await add_staff(drill_world)
    job_id = (await add_jobs(staff, 1))[0]["id"]
    before = await newest_change_id()
    process, base = await start_instance(
        drill_postgres.url, tmp_path / "app", tmp_path / "app.log", APP_SETTINGS
    )
    try:
        async with httpx.AsyncClient(base_url=base, timeout=ANSWER_SECONDS * 3) as client:
            office = await sign_in(client, drill_world.dispatcher)
            stream = ResumingStream(client, await sign_in(client, staff))

            async def edit_or_read(n: int) -> tuple[str, httpx.Response]:
                path = f"/api/dispatch/jobs/{job_id}"
                if n % 2:
                    return "read", await client.get(f"/api/mobile/jobs/{job_id}", headers=office)
                return "edit", await client.patch(path, json={"notes": f"n{n}"}, headers=office)

            load = Load(edit_or_read)
            try:
                await stream.start()
                load.start()

                async def edits_succeed_since(moment: float) -> bool:
                    fresh = load.since(moment)
                    return sum(a.what == "edit" and a.status == 200 for a in fresh) >= 5

                await wait_for(lambda: edits_succeed_since(0), "edits before the outage", 15)

                await asyncio.to_thread(drill_postgres.stop)
                down_at = time.monotonic()

                async def edits_refused() -> bool:
                    return sum(a.status == 503 for a in load.since(down_at)) >= 5

                await wait_for(edits_refused, "requests refused during the outage", 15)
                assert is_outage_answer(await client.get("/readyz"))
                login = {"email": staff["email"], "password": TEST_PASSWORD}
                assert is_outage_answer(await client.post("/api/mobile/auth/login", json=login))

                await asyncio.to_thread(drill_postgres.start)
                up_at = time.monotonic()

                async def ready() -> bool:
                    return (await client.get("/readyz")).status_code == 200

                async def listening() -> bool:
                    return await listening_connections(drill_postgres.url) == 1

                await wait_for(ready, "the app to be ready again, by itself", 15)
                await wait_for(listening, "the app to LISTEN for changes again", 15)
                await wait_for(lambda: edits_succeed_since(up_at), "edits after it", 15)
                answers = await load.stop()

                async def published() -> bool:  # the app publishes the last commits' rows
                    return await newest_change_id() == await newest_id_through(2**62)

                await wait_for(published, "the change log's head to pass every commit", 15)
                changes = await changes_after(before, 10_000)
                written = [row["id"] for row in changes if str(row["job_id"]) == job_id]
                await until(
                    lambda: {e.id for e in stream.events} >= set(written),
                    "the stream to hear every change, those after the restart too",
                    seconds=15,
                )
            finally:
                await load.stop()
                await stream.stop()
    finally:
        alive = process.poll() is None
        stop_app(process)
    log = (tmp_path / "app.log").read_text()

    assert alive, f"the app survived the outage without a restart: {tail(tmp_path / 'app.log')}"
    assert [a for a in answers if a.seconds > ANSWER_SECONDS] == [], "no answer hung"
    assert [
        a
        for a in answers
        if a.status != 200
        and (a.status, a.content_type, a.code) != (503, PROBLEM, "database_unavailable")
    ] == [], "every answer was a success or a 503 problem"
    assert any(a.status == 503 for a in load.since(down_at) if a.at < up_at)
    heard = [e.id for e in stream.events if e.data.get("job", {}).get("id") == job_id]
    assert heard == sorted(set(heard)), "in order, no duplicates"
    assert heard == written, "every change to the job reached the stream, nothing lost"
    assert log.count("reading the change log failed") == 1, "one warning per outage"
    assert log.count("listening for changes stopped") == 1, "one warning per outage"
