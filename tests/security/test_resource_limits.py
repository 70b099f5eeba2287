"""Unrestricted resource consumption (OWASP API4): every body has a size limit, every page a
largest size, and neither is taken on trust from the client.

The limits are read from the routes' own metadata (which body model, which query model), so
a new route with a body or a ``limit`` is checked without being listed here.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sanic import Sanic

from server.context import AppContext
from server.integration.keys import create_api_key
from tests.problems import assert_problem
from tests.security.routes import routes
from tests.world import World, bearer

JSON_LIMIT = 2048
SYNC_LIMIT = 8192
# The one route with a larger JSON limit of its own (SYNC_MAX_BODY_BYTES).
OWN_LIMITS = {("POST", "/api/mobile/sync"): SYNC_LIMIT}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_body_bytes": JSON_LIMIT, "sync_max_body_bytes": SYNC_LIMIT}


def json_of_size(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    return b'{"x": "' + b"a" * (size - 9) + b'"}'


async def test_every_json_body_over_its_limit_is_413(
    app: Sanic[Any, Any], client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """Refused before it is parsed, with the problem body (anonymous routes too)."""
    refused = []
    crm = {"Authorization": f"Bearer {(await create_api_key('bodies', ['all'])).key}"}
    for route in routes(app):
        if route.operation is None or route.operation.body is None:
            continue
        limit = OWN_LIMITS.get((route.method, route.path), JSON_LIMIT)
        headers = {"Content-Type": "application/json"}
        if route.scopes is not None:
            headers |= crm
        elif route.roles is not None:
            headers |= bearer(ctx.signer, world.admin)
        answer = await client.request(
            route.method, route.url(), content=json_of_size(limit + 1), headers=headers
        )
        assert_problem(answer, 413, "payload_too_large")
        refused.append(str(route))
    assert "POST /api/mobile/auth/login" in refused
    assert "PUT /api/integration/v1/jobs/<external_id:str>" in refused
    assert "POST /api/mobile/privacy-notice/acknowledgement" in refused
    assert len(refused) == 27  # 20 of people's, 7 of the CRM's


async def test_a_body_at_the_limit_is_read(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """The limit is the limit: the same route takes a body of exactly that size."""
    for path, limit in (("/api/mobile/auth/login", JSON_LIMIT), ("/api/mobile/sync", SYNC_LIMIT)):
        answer = await client.post(
            path,
            content=json_of_size(limit),
            headers={"Content-Type": "application/json"} | bearer(ctx.signer, world.staff_a),
        )
        assert_problem(answer, 422, "validation_failed")


async def test_every_page_has_a_largest_size(
    app: Sanic[Any, Any], client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    """Each ``limit`` the OpenAPI metadata declares has a maximum, and one past it is 422."""
    paged = {}
    crm = {"Authorization": f"Bearer {(await create_api_key('limits', ['all'])).key}"}
    for route in routes(app):
        query = route.operation.query if route.operation else None
        if query is None or "limit" not in query.model_fields:
            continue
        schema = query.model_json_schema(by_alias=True)["properties"]["limit"]
        largest = schema["maximum"]
        paged[route.path] = largest
        headers = crm if route.scopes else bearer(ctx.signer, world.admin)
        over = await client.get(route.url(), params={"limit": largest + 1}, headers=headers)
        problem = assert_problem(over, 422, "validation_failed")
        assert [e["field"] for e in problem["errors"]] == ["limit"]
        at_most = await client.get(route.url(), params={"limit": largest}, headers=headers)
        # read, then answered: a listing under an object that does not exist is 404
        assert at_most.status_code == (404 if route.has_id else 200), at_most.text
    assert paged == {
        "/api/mobile/jobs": 200,
        "/api/mobile/sync/changes": 500,
        "/api/mobile/sync/receipts": 1000,
        "/api/integration/v1/events": 1000,
        "/api/integration/v1/webhooks/<webhook_id:str>/deliveries": 500,
        "/api/dispatch/alerts": 500,
        "/api/dispatch/customers": 50,
        "/api/admin/audit": 200,
    }
