"""Fixtures of the failure drills: a private PostgreSQL cluster per drill module (a drill
may stop it), migrated and filled with the test world."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from server.db.engine import engine_for
from server.db.migrate import apply_migrations
from tests.conftest import make_settings
from tests.drills.services import PrivatePostgres, private_postgres
from tests.world import World, build_world


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "drill: a failure drill (kills or stops a database, Redis or an instance)"
    )


@pytest.fixture(scope="module")
def drill_postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="module")
async def drill_world(
    drill_postgres: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """The test world in the private cluster; its engine is bound (for the test's own
    reads and writes) until the module ends."""
    settings = make_settings(drill_postgres.url, tmp_path_factory.mktemp("drill-world"))
    async with engine_for(settings):
        await apply_migrations()
        yield await build_world()
