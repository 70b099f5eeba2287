"""Operations endpoints and the generated OpenAPI document."""

from __future__ import annotations

from typing import Any

import httpx
from sanic import Sanic

from server.context import AppContext
from tests.world import World, bearer


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    ready = {
        "status": "ok",
        "checks": {"database": "ok", "cache": "local", "rateLimit": "local", "webhooks": "ok"},
    }
    for path, body in (("/healthz", {"status": "ok"}), ("/readyz", ready)):
        response = await client.get(path)
        assert response.json() == body
        again = await client.get(path, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304


async def sample(client: httpx.AsyncClient, metric: str, labels: str) -> float:
    """One sample from /metrics (0 when absent). The registry lives as long as the process,
    so tests compare samples before and after, never absolute values."""
    text = (await client.get("/metrics")).text
    prefix = f"{metric}{{{labels}}} "
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0].removeprefix(prefix)) if found else 0.0


JOB_ROUTE = 'route="/api/mobile/jobs/<job_id:str>"'
REQUESTS = "tinedy_http_requests_total"
LATENCY_COUNT = "tinedy_http_request_duration_seconds_count"


async def test_metrics_count_requests_and_latency_per_route(
    client: httpx.AsyncClient, ctx: AppContext, world: World
) -> None:
    job = world.jobs[world.staff_a["id"]][0]
    ok = f'method="GET",{JOB_ROUTE},status="200"'
    timed = f'method="GET",{JOB_ROUTE}'
    before = await sample(client, REQUESTS, ok), await sample(client, LATENCY_COUNT, timed)
    for _ in range(3):
        await client.get(f"/api/mobile/jobs/{job}", headers=bearer(ctx.signer, world.staff_a))
    after = await sample(client, REQUESTS, ok), await sample(client, LATENCY_COUNT, timed)
    assert (after[0] - before[0], after[1] - before[1]) == (3, 3)


async def test_openapi_describes_every_route(
    app: Sanic[Any, Any], client: httpx.AsyncClient
) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["etag"]
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    documented = {
        (path, method.upper()) for path, methods in spec["paths"].items() for method in methods
    }
    for route in app.router.routes:
        path = "/" + "/".join(
            "{" + p[1:-1].split(":")[0] + "}" if p.startswith("<") else p
            for p in route.path.split("/")
            if p
        )
        for method in route.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {path} is not in the OpenAPI document"
    feed = spec["paths"]["/api/mobile/jobs"]["get"]
    assert {p["name"] for p in feed["parameters"]} >= {"status", "from", "to", "limit", "cursor"}
    assert "JobsPage" in spec["components"]["schemas"]
    login_body = spec["components"]["schemas"]["LoginRequest"]
    assert set(login_body["required"]) == {"email", "password"}


async def test_metrics_count_refused_requests_once(client: httpx.AsyncClient) -> None:
    unmatched = 'method="GET",route="unmatched",status="404"'
    too_large = 'method="POST",route="/api/mobile/auth/login",status="413"'
    before = [await sample(client, REQUESTS, labels) for labels in (unmatched, too_large)]
    await client.get("/no/such/route")
    oversize = b'{"email": "' + b"a" * 2_000_000 + b'"}'
    await client.post(
        "/api/mobile/auth/login", content=oversize, headers={"Content-Type": "application/json"}
    )
    after = [await sample(client, REQUESTS, labels) for labels in (unmatched, too_large)]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1]
