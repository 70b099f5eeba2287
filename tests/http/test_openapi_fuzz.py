"""Bad input at scale: schemathesis drives every operation in ``/openapi.json`` with requests
generated from the document (valid ones, and malformed ones: wrong types, missing fields,
bad encodings) as a signed-in user, against a real server process.

Every answer must be no 5xx and match the document: its status, its content type and its
body's schema. Errors are problem+json everywhere, documented once as each operation's
``default`` answer. ``make test`` runs a bounded, seeded (reproducible) pass as a dispatcher;
``make fuzz`` runs it at length, coverage phase included, for a staff member and a dispatcher
(``FUZZ_EXAMPLES``, ``FUZZ_ROLES``). The ``crm`` role is the office CRM with an ``all`` API key:
the integration routes are fuzzed with it (every other route answers it 401). A failure
prints schemathesis's report, with a curl line to replay it.

It runs schemathesis's own command line: its pytest plugin does not run under pytest 9.2.
The fuzzer works on a database of its own, since its writes (created, cancelled, reassigned
jobs) would disturb the shared test world.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from server.cluster.processes import drop_database
from server.db.engine import engine_for
from server.db.migrate import apply_migrations
from server.integration.keys import create_api_key
from tests.conftest import fresh_database, make_settings
from tests.http.conftest import signed_in
from tests.servers import ROOT, running_instances
from tests.world import World, add_jobs, add_staff, build_world

FUZZ_EXAMPLES = os.environ.get("FUZZ_EXAMPLES")
FUZZ_ROLES = os.environ.get("FUZZ_ROLES", "dispatcher,crm").split(",")
# The bounded pass: a few random cases per operation, valid and malformed alike. At length,
# also the coverage phase: each field missing, mistyped and at its bounds, in turn.
PHASES = "coverage,fuzzing" if FUZZ_EXAMPLES else "fuzzing"
SEED = "20261127"
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
# The SSE stream never ends by itself (each request would hang until its timeout) and the
# WebSocket is no request/response exchange: tests/live drives both. Logout would sign
# the fuzzing user out midway: tests/auth/test_auth.py covers it.
EXCLUDED_PATHS = "^/api/mobile/(live-updates.*|auth/logout)$"
INTEGRATION_PATHS = "^/api/integration/"
"""The CRM's routes: fuzzed with its key alone (a person is 401 there, as the CRM is on every
other route; tests/security holds both)."""
SCHEMATHESIS = (sys.executable, "-m", "schemathesis.cli")


@pytest.fixture(scope="module")
async def fuzz_world(
    engine_kind: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, World, dict[str, list[str]]]]:
    """A database of the fuzzer's own, its world, and the real ids it may borrow."""
    tmp = tmp_path_factory.mktemp("fuzz")
    url = await fresh_database(engine_kind, tmp, prefix="tinedy_fuzz")
    try:
        async with engine_for(make_settings(url, tmp)):
            await apply_migrations()
            world = await build_world()
            jobs = await add_jobs(await add_staff(world), 3)
            crm_key = (await create_api_key("fuzz", ["all"])).key
        job_ids = [*world.jobs[world.staff_a["id"]][:3], *world.unassigned, jobs[0]["id"]]
        ids = {
            "job_id": job_ids,
            "jobId": job_ids,
            "customerId": [jobs[0]["customer"]],
            "assigneeId": [world.staff_a["id"], world.staff_c["id"]],
            "teamId": [world.south_team, world.north_team],
            "crmKey": [crm_key],
        }
        yield url, world, ids
    finally:
        if engine_kind == "postgres":
            await drop_database(url)


RATE_CLASSES = ("READS", "SYNC", "UPLOADS", "DISPATCH", "WRITES", "SIGN_IN")


@pytest.fixture(scope="module")
async def fuzz_server(
    fuzz_world: tuple[str, World, dict[str, list[str]]],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[httpx.AsyncClient]:
    tmp = tmp_path_factory.mktemp("fuzz_server")
    settings = {
        "ACCESS_TOKEN_SECONDS": "7200",  # a long run must not outlive its token
        "PHOTO_PROCESSING_WORKERS": "0",  # nothing here waits for them: a faster start
        "PUSH_SENDERS": "0",
        # Thousands of cases a minute from one token: the limits stay on, out of reach, so
        # every case reaches its route (tests/security/test_rate_limits.py tests them).
        **{f"RATE_LIMIT_{kind}": "100000000 per minute" for kind in RATE_CLASSES},
    }
    async with running_instances(fuzz_world[0], tmp, count=1, **settings) as (client,):
        yield client


@pytest.mark.parametrize("role", FUZZ_ROLES)
async def test_every_operation_answers_bad_input_as_documented(
    fuzz_server: httpx.AsyncClient,
    fuzz_world: tuple[str, World, dict[str, list[str]]],
    role: str,
    tmp_path: Path,
) -> None:
    _, world, ids = fuzz_world
    if role == "crm":
        auth = f"Bearer {ids['crmKey'][0]}"
    else:
        user = {"staff": world.staff_a, "dispatcher": world.dispatcher, "admin": world.admin}[role]
        auth = (await signed_in(fuzz_server, user))["Authorization"]
    paths = (
        ["--include-path-regex", INTEGRATION_PATHS]
        if role == "crm"
        else ["--exclude-path-regex", f"{EXCLUDED_PATHS}|{INTEGRATION_PATHS}"]
    )
    command = [
        *SCHEMATHESIS, "run", str(fuzz_server.base_url.join("/openapi.json")),
        "--header", f"Authorization: {auth}",
        "--checks", CHECKS,
        *paths,
        "--phases", PHASES,
        "--max-examples", FUZZ_EXAMPLES or "6",
        "--seed", SEED,
        "--generation-database", "none",
        "--request-timeout", "15",
        "--workers", "1",
        "--no-color",
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.http.fuzz_hooks",
        "FUZZ_KNOWN_IDS": json.dumps(ids),
    }
    # Run in a folder of its own: schemathesis keeps a cache of past failures where it runs.
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()[-20_000:]
