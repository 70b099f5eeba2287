"""/readyz says which dependency is down, in fixed words: why it failed (an address, a
driver's message) is in the log, never in the answer (SECURITY.md, finding 8)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.context import AppContext
from server.db.engine import bind_engine, create_engine
from server.ops.service import DEGRADED
from tests.conftest import make_settings
from tests.servers import free_port

PROBLEM = "application/problem+json"
DEAD_PORT = free_port()  # nothing listens here: Redis and PostgreSQL both refuse


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"cache_url": f"redis://127.0.0.1:{DEAD_PORT}/0"}


def unreachable_database(engine_kind: str, tmp_path: Path) -> str:
    if engine_kind == "sqlite":
        (tmp_path / "db.sqlite3").mkdir()  # a directory where the file should be
        return f"sqlite:///{tmp_path / 'db.sqlite3'}"
    return f"postgresql://postgres@127.0.0.1:{DEAD_PORT}/tinedy"


async def test_a_shared_store_that_is_down_is_degraded_without_its_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "database": "ok",
        "cache": DEGRADED,
        "rateLimit": "local",
        "webhooks": "ok",
    }
    assert str(DEAD_PORT) not in response.text and "refused" not in response.text.lower()


async def test_a_database_that_is_down_is_named_in_a_fixed_problem_and_logged(
    client: httpx.AsyncClient,
    ctx: AppContext,
    engine_kind: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = make_settings(unreachable_database(engine_kind, tmp_path), tmp_path)
    with warnings.catch_warnings(action="ignore"):  # Piccolo's "unable to fetch the version"
        bind_engine(create_engine(broken))
    try:
        with caplog.at_level(logging.WARNING, logger="tinedy.ops"):
            response = await client.get("/readyz")
    finally:
        assert ctx.engine is not None
        bind_engine(ctx.engine)
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "5"
    assert response.json() == {
        "type": "urn:tinedy:problem:database_unavailable",
        "title": "Database unreachable",
        "status": 503,
        "detail": "The database does not answer: this instance cannot serve requests.",
        "code": "database_unavailable",
        "checks": {"database": "down", "cache": DEGRADED, "rateLimit": "local"},
    }
    [logged] = [r for r in caplog.records if r.name == "tinedy.ops"]
    assert "Error" in logged.getMessage(), "the cause is in the log"
