"""The office CRM's side of the tests: API keys made the way the command line makes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sanic import Sanic

from server.integration.keys import create_api_key

KeyMaker = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def crm_key(app: Sanic[Any, Any]) -> KeyMaker:
    """``await crm_key("jobs:write", ...)``: Authorization headers for a new key with those
    scopes (``all`` when none are given)."""

    async def make(*scopes: str) -> dict[str, str]:
        made = await create_api_key("tests", list(scopes) or ["all"])
        return {"Authorization": f"Bearer {made.key}"}

    return make
