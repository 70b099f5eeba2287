"""Shared fixtures: every database test runs once on SQLite and once on PostgreSQL.

``database_url`` is a session fixture with two params, so pytest runs the whole suite on a
fresh SQLite file, then on a fresh PostgreSQL database. With ``REQUIRE_POSTGRES=1`` (CI) an
unreachable PostgreSQL fails the run instead of skipping its half.
"""

from __future__ import annotations

import gc
import itertools
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sanic import Sanic

from cdn.build import build
from server.app import create_app, start_worker, stop_worker
from server.cluster.processes import drop_database, ensure_database
from server.config import Settings
from server.context import AppContext
from server.db.engine import bind_engine, current_engine, engine_for
from server.db.migrate import apply_migrations
from tests.requirements import unavailable
from tests.world import World, build_world

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
_app_names = itertools.count()
TESTS = Path(__file__).parent
SERVICE_SUITES = frozenset({"browser", "drills", "cluster"})
"""Suites that start real processes (a browser, PostgreSQL and Redis of their own, nginx)."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "services: needs a database, server processes or a browser (not in test-fast)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what ``make test-fast`` leaves out: every test on a database (both engines) and
    the suites that start processes; what remains are the pure rules, run in seconds."""
    for item in items:
        suite = item.path.relative_to(TESTS).parts[0]
        needs_database = "engine_kind" in getattr(item, "fixturenames", ())
        if needs_database or suite in SERVICE_SUITES or item.path.name == "test_cli.py":
            item.add_marker(pytest.mark.services)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Collect what the tests left in reference cycles before the interpreter waits for its
    threads: an unclosed SQLite connection's thread (not a daemon) would hold the exit open."""
    gc.collect()


Sanic.test_mode = True  # many apps in one process: Sanic skips its one-app-only start-up tweaks


async def create_postgres_database(prefix: str) -> str:
    """A fresh database on the local server; its URL."""
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        await ensure_database(url, fresh=True)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable(
            "PostgreSQL",
            f"unreachable ({exc})",
            required=REQUIRE_POSTGRES,
            switch="REQUIRE_POSTGRES=1",
        )
    return url


async def fresh_database(kind: str, tmp_path: Path, prefix: str = "tinedy_test") -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / f'{prefix}-{uuid.uuid4().hex[:6]}.sqlite3'}"
    return await create_postgres_database(prefix)


APP_SHELL = Path(__file__).resolve().parents[1] / "cdn" / "dist"


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_shell_dir": APP_SHELL,
        "templates_dir": APP_SHELL.parents[1],
        "data_dir": data_dir,
        "database_url": database_url,
        "secret_key": "test-secret-key-not-for-production-0123456789",
        "change_poll_seconds": 0.05,
        "cache_url": "memory://",
        "rate_limit_url": "memory://",
        "db_pool_min": 1,
        "db_pool_max": 4,
        "push_senders": 0,  # the push tests run a sender of their own
        **overrides,
    }
    return Settings(**values)


@pytest.fixture(scope="session", autouse=True)
def app_shell_build() -> Path:
    """The app shell built once (or found built) for every app the tests start."""
    return build(APP_SHELL)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def engine_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tinedy")


@pytest.fixture(scope="session")
async def database_url(engine_kind: str, session_dir: Path) -> AsyncIterator[str]:
    url = await fresh_database(engine_kind, session_dir)
    yield url
    if engine_kind == "postgres":
        await drop_database(url)


@pytest.fixture(scope="session")
async def world(database_url: str, session_dir: Path) -> AsyncIterator[World]:
    """The shared, read-mostly data set: migrated, then filled with a small known world."""
    async with engine_for(make_settings(database_url, session_dir)):
        await apply_migrations()
        yield await build_world()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to start the app with other settings."""
    return {}


@pytest.fixture
async def app(
    world: World, database_url: str, session_dir: Path, settings_overrides: dict[str, Any]
) -> AsyncIterator[Sanic[Any, Any]]:
    settings = make_settings(database_url, session_dir, **settings_overrides)
    sanic_app = create_app(settings, name=f"tinedy_test_{next(_app_names)}")
    sanic_app.asgi = True
    await sanic_app._startup()  # type: ignore[no-untyped-call]
    session_engine = current_engine()
    await start_worker(sanic_app)
    yield sanic_app
    await stop_worker(sanic_app)
    bind_engine(session_engine)  # not the app's, closed now: later tests would reconnect per query


@pytest.fixture
def ctx(app: Sanic[Any, Any]) -> AppContext:
    context: AppContext = app.ctx.tinedy
    return context


@pytest.fixture
async def client(app: Sanic[Any, Any]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
