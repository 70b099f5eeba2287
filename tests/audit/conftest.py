"""The app under test: each request's id is the ``X-Request-Id`` it was sent with
(``server/http/request_log.py``), so a test can find it on the audit events."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sanic import Sanic

from server.app import create_app, start_worker, stop_worker
from server.db.tables import AuditEvent
from tests.conftest import make_settings
from tests.world import World

_names = itertools.count()


@pytest.fixture
async def app(
    world: World, database_url: str, session_dir: Path, settings_overrides: dict[str, Any]
) -> AsyncIterator[Sanic[Any, Any]]:
    settings = make_settings(database_url, session_dir, **settings_overrides)
    sanic_app = create_app(settings, name=f"tinedy_audit_{next(_names)}")
    sanic_app.asgi = True
    await sanic_app._startup()  # type: ignore[no-untyped-call]
    await start_worker(sanic_app)
    yield sanic_app
    await stop_worker(sanic_app)


def traced() -> dict[str, str]:
    """Headers carrying a fresh request id."""
    return {"X-Request-Id": uuid.uuid4().hex}


async def events_on(target_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (
        await AuditEvent.select()
        .where(AuditEvent.target_id == str(target_id))
        .order_by(AuditEvent.id)
        .output(load_json=True)
        .run()
    )
    return rows
