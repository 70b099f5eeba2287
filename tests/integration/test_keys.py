"""API keys: made by the command line and shown once, scoped, revocable at once, limited per
key, and never interchangeable with a person's token."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.auth.tokens import secret_digest
from server.context import AppContext
from server.integration import queries as key_queries
from server.integration.keys import create_api_key, revoke_api_key
from tests.integration.conftest import KeyMaker
from tests.problems import assert_problem
from tests.test_cli import run_cli
from tests.windows import MINUTE, clear_of_a_window_edge
from tests.world import World, bearer

BRANCH = "/api/integration/v1/branches/br-keys"
EVENTS = "/api/integration/v1/events"


async def test_a_key_works_only_within_its_scopes(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    events_only = await crm_key("events:read")
    assert (await client.get(EVENTS, headers=events_only)).status_code == 200
    refused = await client.put(BRANCH, json={"name": "สาขาทดสอบ"}, headers=events_only)
    assert_problem(refused, 403, "missing_scope")

    everything = await crm_key("all")
    assert (await client.get(EVENTS, headers=everything)).status_code == 200
    created = await client.put(BRANCH, json={"name": "สาขาทดสอบ"}, headers=everything)
    assert created.status_code in (200, 201)


async def test_a_person_s_token_is_refused_on_integration_routes_and_a_key_on_theirs(
    client: httpx.AsyncClient, ctx: AppContext, world: World, crm_key: KeyMaker
) -> None:
    admin = bearer(ctx.signer, world.admin)
    assert_problem(await client.get(EVENTS, headers=admin), 401, "invalid_api_key")
    key = await crm_key("all")
    assert_problem(await client.get("/api/mobile/jobs", headers=key), 401, "invalid_token")
    assert_problem(await client.get(EVENTS), 401, "invalid_api_key")


async def test_a_revoked_key_is_refused_from_its_next_request(
    client: httpx.AsyncClient, app: Any
) -> None:
    made = await create_api_key("soon revoked", ["events:read"])
    headers = {"Authorization": f"Bearer {made.key}"}
    assert (await client.get(EVENTS, headers=headers)).status_code == 200
    assert await revoke_api_key(made.record["prefix"]) == 1
    assert_problem(await client.get(EVENTS, headers=headers), 401, "invalid_api_key")


async def test_a_key_s_use_is_recorded_and_only_its_hash_is_stored(
    client: httpx.AsyncClient, app: Any
) -> None:
    made = await create_api_key("recorded", ["events:read"])
    assert (await client.get(EVENTS, headers={"Authorization": f"Bearer {made.key}"})).is_success
    stored = [k for k in await key_queries.all_api_keys() if str(k["id"]) == made.record["id"]]
    assert stored[0]["last_used_at"] is not None
    assert stored[0]["key_hash"] == secret_digest(made.key)
    assert made.key not in str(stored[0])


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    clear_of_a_window_edge(MINUTE, 15)
    return {"integration_rate_limit": "3 per minute"}


async def test_each_key_has_its_own_request_budget(
    client: httpx.AsyncClient, crm_key: KeyMaker
) -> None:
    busy, other = await crm_key("events:read"), await crm_key("events:read")
    for _ in range(3):
        assert (await client.get(EVENTS, headers=busy)).status_code == 200
    limited = await client.get(EVENTS, headers=busy)
    assert_problem(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert (await client.get(EVENTS, headers=other)).status_code == 200


def test_the_command_line_prints_a_key_once_lists_it_without_it_and_revokes_it(
    tmp_path: Path,
) -> None:
    env = {"DATA_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/keys.sqlite3"}
    assert run_cli("migrate", **env).returncode == 0
    made = run_cli(
        "create-api-key", "--name", "office-crm", "--scope", "jobs:write", "--scope", "events:read",
        **env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert re.fullmatch(r"tk_[A-Za-z0-9_-]{40,}", key)

    listed = run_cli("list-api-keys", **env)
    assert "office-crm" in listed.stdout and "events:read jobs:write" in listed.stdout
    assert key not in listed.stdout and key[:10] in listed.stdout

    assert run_cli("create-api-key", "--name", "x", "--scope", "everything", **env).returncode == 2
    assert run_cli("revoke-api-key", key[:10], **env).returncode == 0
    assert "revoked" in run_cli("list-api-keys", **env).stdout
    assert run_cli("revoke-api-key", key[:10], **env).returncode == 1
