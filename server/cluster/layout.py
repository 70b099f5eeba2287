"""A local cluster, the production layout on one machine: nginx (the reference edge)
balancing and caching in front of two app instances of ``WORKERS=2`` each, on one PostgreSQL
database, with Redis holding the shared feed cache and the login throttle.

It runs no PostgreSQL or Redis of its own: both must answer at the URLs given. Instances share
``SECRET_KEY`` and the VAPID key (generated once into the run folder), and one photo folder
(each instance's ``DATA_DIR/photos`` links to it; on several hosts that is ``PHOTO_STORE=s3``).
``python -m server.cluster`` runs it in the foreground; the fleet benchmark and the tests start
it with ``running_cluster``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis

from cdn.build import build
from server.cluster.edge import find_nginx, start_edge
from server.cluster.processes import (
    HOST,
    ensure_database,
    run_command,
    start_app,
    stop,
    wait_ready,
)
from server.config import load_or_create_secret
from server.push.vapid import load_vapid_keys


@dataclass(frozen=True)
class ClusterConfig:
    """What to start; ``settings`` are more environment settings for every instance."""

    database_url: str = "postgres://postgres@127.0.0.1:5432/tinedy_cluster"
    redis_url: str = "redis://127.0.0.1:6379/5"
    instances: int = 2
    workers: int = 2
    listen_port: int = 8080
    first_app_port: int = 8001
    run_dir: Path = Path("var/cluster")
    fresh: bool = False
    demo: bool = True
    edge: bool = True
    settings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Instance:
    """One app instance: ``python -m server run`` in a process group of its own."""

    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@dataclass(frozen=True)
class Cluster:
    """The running layout: ``url`` is the edge (or the only instance when there is none)."""

    url: str
    instances: list[Instance]
    edge: subprocess.Popen[bytes] | None
    edge_log: Path


def check_redis(redis_url: str) -> None:
    """Fail at start-up, naming the URL, rather than at the first cached page."""
    try:
        redis.Redis.from_url(redis_url, socket_timeout=2).ping()
    except redis.RedisError as exc:
        raise SystemExit(f"Redis at {redis_url} does not answer: {exc}") from exc


def shared_env(config: ClusterConfig) -> dict[str, str]:
    """The settings every instance gets alike, as on several hosts."""
    keys_dir = config.run_dir / "keys"
    return {
        **os.environ,
        "DATABASE_URL": config.database_url,
        "SECRET_KEY": load_or_create_secret(keys_dir),
        "VAPID_PRIVATE_KEY": load_vapid_keys(keys_dir).private_pem,
        "CACHE_URL": config.redis_url,
        "RATE_LIMIT_URL": config.redis_url,
        "PROXIES_COUNT": "1" if config.edge else "0",
        "WORKERS": str(config.workers),
        "DEMO": "1" if config.demo else "0",
        "HOST": HOST,
        **config.settings,
    }


def prepare(config: ClusterConfig) -> dict[str, str]:
    """Database, Redis and the app shell made ready once, before any instance starts (two
    instances building the shell at once would race on ``cdn/dist``)."""
    try:
        asyncio.run(ensure_database(config.database_url, config.fresh))
    except (OSError, asyncpg.PostgresError) as exc:
        raise SystemExit(f"PostgreSQL at {config.database_url} does not answer: {exc}") from exc
    check_redis(config.redis_url)
    env = shared_env(config)
    run_command("migrate", env)
    if config.demo:
        run_command("seed-demo", env)
    build()
    return env


def start_instance(config: ClusterConfig, env: Mapping[str, str], n: int) -> Instance:
    """Instance ``n`` on its own port and data folder, sharing the cluster's photo folder."""
    name = f"instance-{n + 1}"
    data_dir = (config.run_dir / name).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    photos = (config.run_dir / "photos").resolve()
    photos.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "photos").is_symlink():
        (data_dir / "photos").symlink_to(photos, target_is_directory=True)
    port = config.first_app_port + n
    log = config.run_dir / f"{name}.log"
    process = start_app({**env, "PORT": str(port), "DATA_DIR": str(data_dir)}, log)
    return Instance(name, f"http://{HOST}:{port}", port, process, log)


def nginx_or_exit() -> str:
    found = find_nginx()
    if found is None:
        raise SystemExit("nginx is not installed (Debian: apt-get install nginx)")
    return found


@contextmanager
def running_cluster(config: ClusterConfig) -> Iterator[Cluster]:
    """Prepare, start and wait for every part; always stop what was started."""
    config.run_dir.mkdir(parents=True, exist_ok=True)
    env = prepare(config)
    instances: list[Instance] = []
    edge: subprocess.Popen[bytes] | None = None
    edge_dir = (config.run_dir / "edge").resolve()
    edge_log = edge_dir / "error.log"
    try:
        for n in range(config.instances):
            instances.append(start_instance(config, env, n))
        for instance in instances:
            wait_ready(instance.process, instance.port, "/readyz", instance.log)
        url = instances[0].url
        if config.edge:
            upstreams = [instance.url.removeprefix("http://") for instance in instances]
            listen = f"{HOST}:{config.listen_port}"
            edge = start_edge(nginx_or_exit(), upstreams, listen, edge_dir)
            wait_ready(edge, config.listen_port, "/readyz", edge_log)
            url = f"http://{listen}"
        yield Cluster(url, instances, edge, edge_log)
    finally:
        if edge is not None:
            stop([edge])
        stop([instance.process for instance in instances])
