"""``make cluster``'s layout (`server/cluster/`) starts whole and stops whole: real nginx in
front of two real instances on one PostgreSQL database with Redis; requests through the edge
reach both instances, a sign-in made through one is honoured by the other, and nothing it
started outlives it."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import redis

from server.cluster.layout import ClusterConfig, running_cluster
from server.cluster.processes import drop_database, free_port
from server.db.engine import engine_for
from tests.conftest import create_postgres_database, make_settings
from tests.nginx import nginx_binary
from tests.requirements import unavailable
from tests.world import TEST_PASSWORD, add_user

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
GONE_WITHIN_S = 5.0


def redis_or_skip() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        unavailable("Redis", f"unreachable at {REDIS_URL} ({exc}); the cluster is untested")


def served_healthz(metrics: str) -> bool:
    return any(
        line.startswith("tinedy_http_requests_total") and "healthz" in line
        for line in metrics.splitlines()
    )


def process_tree(pid: int) -> set[int]:
    found, todo = {pid}, [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            children = {int(c) for c in (task / "children").read_text().split()}
            found |= children
            todo += children
    return found


def alive(pid: int) -> bool:
    """Running, or a zombie no one has reaped: either way still there."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def add_person(database_url: str, data_dir: Path) -> str:
    async with engine_for(make_settings(database_url, data_dir)):
        return str((await add_user("staff", None, None))["email"])


def test_the_cluster_serves_through_the_edge_and_stops_whole(tmp_path: Path) -> None:
    nginx_binary()
    redis_or_skip()
    database_url = asyncio.run(create_postgres_database("tinedy_cluster_test"))
    config = ClusterConfig(
        database_url=database_url,
        redis_url=REDIS_URL,
        workers=1,
        demo=False,
        first_app_port=free_port(),
        listen_port=free_port(),
        run_dir=tmp_path,
        settings={"PHOTO_PROCESSING_WORKERS": "0", "PUSH_SENDERS": "0"},
    )
    try:
        with running_cluster(config) as cluster:
            for _ in range(6):
                assert httpx.get(f"{cluster.url}/healthz").status_code == 200
            for instance in cluster.instances:
                assert served_healthz(httpx.get(f"{instance.url}/metrics").text), instance.name
            email = asyncio.run(add_person(database_url, tmp_path / "person"))
            login = {"email": email, "password": TEST_PASSWORD, "device": {"id": "cluster"}}
            token = httpx.post(f"{cluster.instances[0].url}/api/mobile/auth/login", json=login)
            headers = {"Authorization": f"Bearer {token.json()['accessToken']}"}
            jobs = httpx.get(f"{cluster.instances[1].url}/api/mobile/jobs", headers=headers)
            assert jobs.status_code == 200
            started = set().union(*(process_tree(i.process.pid) for i in cluster.instances))
            assert cluster.edge is not None
            started |= process_tree(cluster.edge.pid)
        deadline = time.monotonic() + GONE_WITHIN_S
        while any(alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in started if alive(pid)]
    finally:
        asyncio.run(drop_database(database_url))
