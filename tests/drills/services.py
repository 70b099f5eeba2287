"""Private PostgreSQL clusters and Redis servers for failure drills: each drill stops and
starts its own, on a free loopback port, and never touches the shared ones."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from server.cluster.processes import free_port, stop
from tests.requirements import require_tool

POSTGRES_BIN = Path(os.environ.get("TEST_POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
COMMAND_SECONDS = 30
STOP_SECONDS = 10
INITDB_OPTIONS = ("-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
REDIS_OPTIONS = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")


def stop_app(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to an app process, then SIGKILL to its group if it is not gone within
    STOP_SECONDS: drills test what survives a failure, not how long a graceful stop takes."""
    stop([process], timeout=STOP_SECONDS)


def _as_postgres() -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the postgres user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class PrivatePostgres:
    """A throwaway cluster: trust auth, no fsync, loopback only."""

    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def _pg_ctl(self, *args: str) -> None:
        command = [*_as_postgres(), str(POSTGRES_BIN / "pg_ctl"), "-D", str(self.root / "data")]
        subprocess.run(
            [*command, "-w", "-t", str(COMMAND_SECONDS), *args],
            check=True,
            capture_output=True,
            timeout=COMMAND_SECONDS + 5,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        self._pg_ctl("-l", str(self.log), "-o", options, "start")

    def stop(self) -> None:
        """A fast shutdown: open connections are cut, as in a restart or a failover."""
        self._pg_ctl("-m", "fast", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started private cluster, always stopped and removed."""
    initdb = require_tool(
        str(POSTGRES_BIN / "initdb"), "apt-get install postgresql, or TEST_POSTGRES_BIN"
    )
    root = Path(tempfile.mkdtemp(prefix="tinedy-drill-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = PrivatePostgres(root, free_port())
    subprocess.run(
        [*_as_postgres(), initdb, "-D", str(root / "data"), *INITDB_OPTIONS],
        check=True,
        capture_output=True,
        timeout=COMMAND_SECONDS * 2,
    )
    try:
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


class PrivateRedis:
    """A Redis with no persistence that a drill may stop and start again on its port."""

    def __init__(self, binary: str, log: Path) -> None:
        self._binary = binary
        self._log = log
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [self._binary, "--port", str(self.port), *REDIS_OPTIONS],
            stdout=self._log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        for _ in range(200):  # 10 s at most
            if self._answers():
                return
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"redis did not start: {self._log.read_text()[-1000:]}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@contextmanager
def private_redis(log: Path) -> Iterator[PrivateRedis]:
    binary = require_tool("redis-server", "apt-get install redis-server")
    redis = PrivateRedis(binary, log)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()
