"""Start, wait for and stop server processes on loopback; create and drop their databases.

Every process started here runs in a process group of its own, so ``stop`` can end it whole
(Sanic's workers, a shell's children) and nothing outlives the caller.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

REPO_ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
SETUP_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 15.0
PROTECTED_DATABASES = {"postgres", "template0", "template1"}


def free_port() -> int:
    """An unused loopback port, as the kernel hands one out."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def spawn(command: Sequence[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``command`` in the repository root, in its own process group, output into ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            list(command),
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_app(env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m server run`` with ``env`` (``PORT``, ``DATABASE_URL``... set by the caller)."""
    return spawn([sys.executable, "-m", "server", "run"], env, log)


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


def get_status(port: int, path: str) -> int | None:
    """The status of one GET on loopback, or None when nothing answers yet."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def wait_ready(
    process: subprocess.Popen[bytes],
    port: int,
    path: str,
    log: Path,
    timeout: float = READY_TIMEOUT_S,
) -> None:
    """Poll until ``path`` answers 200, bounded; raise RuntimeError at once if the process
    exits, naming its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}; see {log}")
        if get_status(port, path) == 200:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{path} on port {port} not ready after {timeout:.0f} s; see {log}")


def stop(processes: Sequence[subprocess.Popen[bytes]], timeout: float = STOP_TIMEOUT_S) -> None:
    """Ask each politely, all at once, then kill each whole process group so no worker
    outlives it."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier (database names cannot be bind parameters)."""
    return '"' + name.replace('"', '""') + '"'


def database_name(database_url: str) -> str:
    """The database a URL names; refuses PostgreSQL's own."""
    name = urlsplit(database_url).path.lstrip("/")
    if not name or name in PROTECTED_DATABASES:
        raise SystemExit(f"refusing to use database {name!r}: name one of your own")
    return name


async def _admin(database_url: str) -> asyncpg.Connection:
    """A connection to the server's ``postgres`` database, beside the one the URL names."""
    parts = urlsplit(database_url)
    return await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")), timeout=10)


async def ensure_database(database_url: str, fresh: bool) -> None:
    """Create the database when missing; with ``fresh``, drop it first."""
    name = database_name(database_url)
    conn = await _admin(database_url)
    try:
        if fresh:
            await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f"CREATE DATABASE {quote_ident(name)}")
    finally:
        await conn.close()


async def drop_database(database_url: str) -> None:
    """Drop the database, closing its connections first."""
    name = database_name(database_url)
    conn = await _admin(database_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()
