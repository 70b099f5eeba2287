"""A local cluster, the production layout on one machine: nginx (the reference edge in
``cdn/edge``) balancing and caching in front of two app instances of ``WORKERS=2`` each, on one
PostgreSQL database, with Redis holding the shared feed cache and the login throttle.

``python -m cdn.cluster`` (``make cluster``) migrates the database, loads the demo, starts
everything, prints the URL and runs in the foreground until Ctrl-C or SIGTERM, which stops
every process it started. The fleet benchmark starts the same layout with ``running_cluster``.

It runs no PostgreSQL or Redis of its own: both must answer at the URLs given. Instances share
``SECRET_KEY`` and the VAPID key (generated once into the run folder), and one photo folder
(each instance's ``DATA_DIR/photos`` links to it; on several hosts that is ``PHOTO_STORE=s3``).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis

from cdn.build import build
from cdn.edge.__main__ import render
from server.config import load_or_create_secret
from server.push.vapid import load_vapid_keys

REPO_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
SETUP_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 15.0
PROTECTED_DATABASES = {"postgres", "template0", "template1"}


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
    process: subprocess.Popen[bytes]
    log: Path


@dataclass(frozen=True)
class Cluster:
    """The running layout: ``url`` is the edge (or the only instance when there is none)."""

    url: str
    instances: list[Instance]
    edge: subprocess.Popen[bytes] | None
    edge_log: Path


def parse_args() -> ClusterConfig:
    parser = argparse.ArgumentParser(prog="python -m cdn.cluster", description=__doc__)
    defaults = ClusterConfig()
    parser.add_argument("--database-url", default=defaults.database_url)
    parser.add_argument("--redis-url", default=defaults.redis_url)
    parser.add_argument("--instances", type=int, default=defaults.instances)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--port", type=int, default=defaults.listen_port, help="nginx's port")
    parser.add_argument("--first-app-port", type=int, default=defaults.first_app_port)
    parser.add_argument("--run-dir", type=Path, default=defaults.run_dir)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    args = parser.parse_args()
    return ClusterConfig(
        database_url=args.database_url,
        redis_url=args.redis_url,
        instances=args.instances,
        workers=args.workers,
        listen_port=args.port,
        first_app_port=args.first_app_port,
        run_dir=args.run_dir,
        fresh=args.fresh,
    )


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier (database names cannot be bind parameters)."""
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(database_url: str, fresh: bool) -> None:
    """Create the database when missing; with ``fresh``, drop it first."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not name or name in PROTECTED_DATABASES:
        raise SystemExit(f"refusing to use database {name!r}: name one of your own")
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        if fresh:
            await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
    finally:
        await conn.close()


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


def run_command(command: str, env: Mapping[str, str]) -> None:
    """A one-shot ``python -m server`` command (migrate, seed-demo); fails loudly."""
    print(f"+ python -m server {command}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "server", command],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=SETUP_TIMEOUT_S,
    )


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


def get_status(port: int, path: str) -> int | None:
    """The status of one GET, or None when nothing answers yet."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_ready(process: subprocess.Popen[bytes], port: int, path: str, log: Path) -> None:
    """Poll until ``path`` answers 200, bounded, failing at once if the process exits."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}; see {log}")
        if get_status(port, path) == 200:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{path} on port {port} not ready after {READY_TIMEOUT_S:.0f} s; see {log}")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Ask each politely, all at once, then kill each whole process group so no worker
    outlives it."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "run"],
        cwd=REPO_ROOT,
        env={**env, "PORT": str(port), "DATA_DIR": str(data_dir)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Instance(name, f"http://{HOST}:{port}", process, log)


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        raise SystemExit("nginx is not installed (Debian: apt-get install nginx)")
    return found


def start_edge(config: ClusterConfig, instances: list[Instance]) -> subprocess.Popen[bytes]:
    """nginx rendered from ``cdn/edge`` with every instance upstream; in the foreground, and
    as root its workers stay root so they can write the run folder."""
    edge_dir = (config.run_dir / "edge").resolve()
    upstreams = [instance.url.removeprefix("http://") for instance in instances]
    conf = edge_dir / "nginx.conf"
    conf.write_text(render(upstreams, f"{HOST}:{config.listen_port}", edge_dir))
    as_root = ["-g", "user root;"] if os.geteuid() == 0 else []
    return subprocess.Popen(
        [nginx_binary(), "-c", str(conf), "-e", str(edge_dir / "error.log"), *as_root],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@contextmanager
def running_cluster(config: ClusterConfig) -> Iterator[Cluster]:
    """Prepare, start and wait for every part; always stop what was started."""
    config.run_dir.mkdir(parents=True, exist_ok=True)
    env = prepare(config)
    instances: list[Instance] = []
    edge: subprocess.Popen[bytes] | None = None
    edge_log = (config.run_dir / "edge" / "error.log").resolve()
    try:
        for n in range(config.instances):
            instances.append(start_instance(config, env, n))
        for instance in instances:
            port = urlsplit(instance.url).port or 0
            wait_ready(instance.process, port, "/readyz", instance.log)
        url = instances[0].url
        if config.edge:
            edge = start_edge(config, instances)
            wait_ready(edge, config.listen_port, "/readyz", edge_log)
            url = f"http://{HOST}:{config.listen_port}"
        yield Cluster(url, instances, edge, edge_log)
    finally:
        if edge is not None:
            stop([edge])
        stop([instance.process for instance in instances])


def announce(cluster: Cluster) -> None:
    print(f"\nTinedy cluster on {cluster.url}  (Ctrl-C stops everything)")
    for instance in cluster.instances:
        print(f"  {instance.name}: {instance.url}, pid {instance.process.pid}, log {instance.log}")
    if cluster.edge is not None:
        print(f"  nginx: pid {cluster.edge.pid}, log {cluster.edge_log}")
    print("  demo logins (password demo1234): admin@demo.local, dispatcher@demo.local,")
    print("  staff1@demo.local ... staff20@demo.local", flush=True)


def watch(cluster: Cluster, edge: subprocess.Popen[bytes]) -> None:
    """Until stopped: say when an instance dies (nginx routes around it, so the cluster goes
    on), and end when nginx itself does."""
    reported: set[str] = set()
    while edge.poll() is None:
        for instance in cluster.instances:
            code = instance.process.poll()
            if code is not None and instance.name not in reported:
                reported.add(instance.name)
                print(f"! {instance.name} exited with {code}; see {instance.log}", flush=True)
        time.sleep(1)
    print(f"! nginx exited with {edge.returncode}; see {cluster.edge_log}", flush=True)


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the cluster as Ctrl-C does: through the same clean-up."""
    raise KeyboardInterrupt


def main() -> None:
    config = parse_args()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        with running_cluster(config) as cluster:
            announce(cluster)
            assert cluster.edge is not None  # the command line always starts the edge
            watch(cluster, cluster.edge)
    except KeyboardInterrupt:
        print("\nstopped the cluster", flush=True)
        return
    except (RuntimeError, subprocess.SubprocessError) as exc:
        raise SystemExit(f"cluster failed: {exc}") from exc
    raise SystemExit(1)  # nginx died: everything else was stopped with it


if __name__ == "__main__":
    main()
