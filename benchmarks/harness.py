"""What the benchmarks share: the options every run takes (database, output folder, wrk
windows), servers started and stopped through ``server.cluster.processes`` (the app on a
freshly seeded database, the bare-Sanic baseline), plain HTTP calls and a small raw keep-alive
client, wrk runs read through ``wrk_report.lua``, the feed measured idle and busy, CPU read from
/proc, and results kept as JSON beside a plot, a failure ending the run with one line.

Every benchmark is a module run from the repository root: ``python -m benchmarks.<name>``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

import orjson
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from server.cluster.processes import HOST as HOST
from server.cluster.processes import REPO_ROOT as REPO_ROOT
from server.cluster.processes import ensure_database, run_command, spawn
from server.cluster.processes import free_port as free_port
from server.cluster.processes import stop as stop_processes
from server.cluster.processes import wait_ready as wait_ready

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "wrk_report.lua"

PASSWORD = "demo1234"  # every demo account's
FEED_PATH = "/api/mobile/jobs"
LOGIN_PATH = "/api/mobile/auth/login"
MAX_DESCENDANTS = 64  # processes read under one server, at most
SERVER_COMMAND = [sys.executable, "-m", "server", "run"]


# Options and the run's frame


def add_database_option(parser: argparse.ArgumentParser, name: str) -> None:
    """``--database-url``: the PostgreSQL database the run drops and seeds again."""
    parser.add_argument("--database-url", default=f"postgres://postgres@127.0.0.1:5432/{name}")


def add_out_option(parser: argparse.ArgumentParser) -> None:
    """``--out``: where results, plots and server logs go."""
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))


def add_feed_window_options(parser: argparse.ArgumentParser, duration: int, scope: str) -> None:
    """The wrk options of a feed measured idle and busy (``idle_window``); ``scope`` prefixes
    their help where a run has other parts."""
    parser.add_argument(
        "--feed-duration", type=int, default=duration, help=f"{scope}wrk s per window"
    )
    parser.add_argument("--warmup", type=int, default=2, help=f"{scope}wrk warm-up s, idle")
    parser.add_argument("--connections", type=int, default=16, help=f"{scope}wrk connections")
    parser.add_argument("--threads", type=int, default=1, help=f"{scope}wrk threads")


def add_run_options(parser: argparse.ArgumentParser, database: str | None = None) -> None:
    """The options that close every benchmark's list: ``--database-url`` (where the run has
    a ``database`` of its own) and ``--out``."""
    if database is not None:
        add_database_option(parser, database)
    add_out_option(parser)


def prepare_out(args: argparse.Namespace) -> None:
    """Make ``args.out`` absolute (servers run elsewhere) and create it."""
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)


@contextmanager
def failures_end_run(*errors: type[Exception]) -> Iterator[None]:
    """A failed run (a server that would not start, a wrong answer, and ``errors``) ends
    with one line instead of a traceback."""
    caught: tuple[type[Exception], ...] = (RuntimeError, subprocess.SubprocessError, *errors)
    try:
        yield
    except caught as exc:
        raise SystemExit(f"benchmark failed: {exc}") from exc


# Servers


UNREACHED_BUDGET = "100000000 per minute"
LIMITS_CHECKED_NEVER_REACHED = {
    f"RATE_LIMIT_{name}": UNREACHED_BUDGET
    for name in ("READS", "SYNC", "UPLOADS", "DISPATCH", "WRITES", "SIGN_IN")
} | {"INTEGRATION_RATE_LIMIT": UNREACHED_BUDGET}
"""A benchmark measures what the server can serve, a handful of users sending as fast as they
can: the rate limits are on and checked on every request (their cost is in the figures), with
budgets no run reaches."""


def server_env(database_url: str, port: int, workers: int) -> dict[str, str]:
    """Environment of every `python -m server` call."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEMO": "1",
        "HOST": HOST,
        "PORT": str(port),
        "WORKERS": str(workers),
        **LIMITS_CHECKED_NEVER_REACHED,
    }


@contextmanager
def running(cmd: list[str], env: Mapping[str, str], log_path: Path) -> Iterator[Popen[bytes]]:
    """Run a server in its own process group for the duration of the block; stopped whole."""
    proc = spawn(cmd, env, log_path)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: Popen[bytes]) -> None:
    """Stop gracefully, then kill the whole process group so no worker survives."""
    stop_processes([proc])


async def recreate_database(database_url: str) -> None:
    """Start from an empty database so seeded data is the same every run."""
    await ensure_database(database_url, fresh=True)


def seed_fresh_database(database_url: str, env: Mapping[str, str]) -> None:
    """Drop and create the database, migrate it and load the demo data."""
    asyncio.run(recreate_database(database_url))
    run_command("migrate", env)
    run_command("seed-demo", env)


@contextmanager
def serving(env: Mapping[str, str], port: int, log_path: Path) -> Iterator[Popen[bytes]]:
    """``python -m server run`` for the duration of the block, once it answers /readyz."""
    with running(SERVER_COMMAND, env, log_path) as server:
        wait_ready(server, port, "/readyz", log_path)
        yield server


@contextmanager
def serving_fresh(
    database_url: str, env: Mapping[str, str], port: int, log_path: Path
) -> Iterator[Popen[bytes]]:
    """The app on a freshly seeded database (``seed_fresh_database``, then ``serving``)."""
    seed_fresh_database(database_url, env)
    with serving(env, port, log_path) as server:
        yield server


def baseline_command(body_file: Path, port: int, workers: int) -> list[str]:
    """Command line of the precomputed-bytes baseline server (``benchmarks.baseline_server``)."""
    return [
        sys.executable,
        "-m",
        "benchmarks.baseline_server",
        str(body_file),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


# HTTP: plain calls, and a raw keep-alive client for load generators


@dataclass(frozen=True)
class Response:
    """A raw HTTP response; the body is kept compressed, as sent."""

    status: int
    headers: dict[str, str]
    body: bytes


def request(
    port: int, method: str, path: str, headers: Mapping[str, str], body: bytes | None = None
) -> Response:
    """One HTTP/1.1 request without transparent decompression."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=dict(headers))
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def login(port: int, email: str) -> str:
    """Log a demo user in and return the access token."""
    payload = {
        "email": email,
        "password": PASSWORD,
        "device": {"id": f"bench-{email}", "name": "feed benchmark", "platform": "android"},
    }
    resp = request(
        port,
        "POST",
        "/api/mobile/auth/login",
        {"Content-Type": "application/json"},
        json.dumps(payload).encode(),
    )
    if resp.status != 200:
        raise RuntimeError(f"login {email} failed: {resp.status} {resp.body[:200]!r}")
    token: str = json.loads(resp.body)["accessToken"]
    return token


def api(port: int, token: str, method: str, path: str, expect: int, body: Any = None) -> Any:
    """One JSON call as the staff member; anything but ``expect`` fails the run."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    payload = None if body is None else json.dumps(body).encode()
    resp = request(port, method, path, headers, payload)
    if resp.status != expect:
        raise RuntimeError(f"{method} {path}: {resp.status} {resp.body[:300]!r}")
    return json.loads(resp.body)


def _header(line: str) -> tuple[str, str]:
    """A header line, lower-cased: only framing headers are read, and they ignore case."""
    name, value = line.split(":", 1)
    return name.strip().lower(), value.strip().lower()


class Connection:
    """One keep-alive HTTP/1.1 connection on loopback. A client of our own, this small,
    because the load generator shares the CPUs with the server and PostgreSQL: a heavy
    client would be measured as server time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.closed = False

    @classmethod
    async def open(cls, port: int) -> Connection:
        """Connect to the server under test."""
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    def close(self) -> None:
        """Close without waiting on a peer that may be gone."""
        self.closed = True
        self._writer.close()

    async def send(
        self, method: str, path: str, token: str | None, body: bytes = b""
    ) -> tuple[int, bytes]:
        """One request; answers (status, body). No Accept-Encoding, so bodies come plain."""
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
        if body:  # never on a GET: Sanic logs a Content-Length it did not read as an error
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        self._writer.write(head.encode() + b"\r\n" + body)
        await self._writer.drain()
        return await self._read_response()

    async def _read_response(self) -> tuple[int, bytes]:
        """Status line, headers, then a Content-Length or chunked body."""
        raw = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").rstrip("\r\n").split("\r\n")
        headers = dict(_header(line) for line in lines if ":" in line)
        if headers.get("connection") == "close":
            self.closed = True
        if headers.get("transfer-encoding") == "chunked":
            return int(status_line.split()[1]), await self._read_chunked()
        length = int(headers.get("content-length", "0"))
        return int(status_line.split()[1]), await self._reader.readexactly(length)

    async def _read_chunked(self) -> bytes:
        """Chunked bodies, in case a response streams; bounded by the request timeout."""
        parts = []
        while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self._reader.readexactly(size))
            await self._reader.readuntil(b"\r\n")
        await self._reader.readuntil(b"\r\n")
        return b"".join(parts)


@dataclass
class Phone:
    """One simulated phone: its session, and the jobs only it edits, so the versions it
    sends stay the server's (an edit it sees accepted is one version further)."""

    client_id: str
    token: str
    user_id: str
    device_id: str
    versions: dict[str, int] = field(default_factory=dict)
    next_job: int = 0
    notes_sent: int = 0


def jwt_claims(token: str) -> dict[str, Any]:
    """The access token's claims, unverified: only to learn the user and device session ids
    the server records, so the floor writes the same values."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def expect_json(what: str, status: int, body: bytes) -> Any:
    """The parsed answer of a setup call, or a failure that says what the server said."""
    if status != 200:
        raise RuntimeError(f"{what}: {status} {body[:300]!r}")
    return orjson.loads(body)


async def sign_in(conn: Connection, email: str, client_id: str) -> Phone:
    """Log a demo user in as one phone (a distinct device id makes a distinct session)."""
    device = {"id": client_id, "name": "sync benchmark", "platform": "android"}
    payload = {"email": email, "password": PASSWORD, "device": device}
    status, body = await conn.send("POST", LOGIN_PATH, None, orjson.dumps(payload))
    token: str = expect_json(f"login {email} as {client_id}", status, body)["accessToken"]
    claims = jwt_claims(token)
    return Phone(client_id, token, str(claims["sub"]), str(claims["dev"]))


@dataclass(kw_only=True)
class Failures:
    """Failures of a measured series, counted; the first kept whole, since it is usually the
    telling one."""

    failures: int = 0
    first_failure: str | None = None

    def fail(self, detail: str) -> None:
        """Count one failure."""
        self.failures += 1
        if self.first_failure is None:
            self.first_failure = detail


# wrk, and the feed measured idle and busy


@dataclass(frozen=True)
class Scenario:
    """One wrk target: where to hit, with which headers, and what it must answer."""

    name: str
    description: str
    port: int
    path: str
    headers: dict[str, str]
    expect_status: int
    edited_jobs: tuple[str, ...] = ()  # the dispatcher edits these while wrk runs


def check(scenario: Scenario) -> Response:
    """Send one request first, so wrk never measures a wrong answer (401s are fast)."""
    resp = request(scenario.port, "GET", scenario.path, scenario.headers)
    if resp.status != scenario.expect_status:
        got = f"{resp.status} {resp.body[:200]!r}"
        raise RuntimeError(f"{scenario.name}: expected {scenario.expect_status}, got {got}")
    if resp.status == 200 and resp.headers.get("content-encoding") != "br":
        raise RuntimeError(f"{scenario.name}: response is not br-compressed: {resp.headers}")
    return resp


def staff_first_page(port: int, token: str) -> Scenario:
    """A staff member's first feed page in br: the page every feed measurement reads."""
    headers = {"Accept-Encoding": "br", "Authorization": f"Bearer {token}"}
    return Scenario("staff_first_page", "staff first page, br", port, FEED_PATH, headers, 200)


def require_wrk(target: str) -> None:
    """Stop before any set-up when wrk is missing; ``make <target>`` installs it."""
    if shutil.which("wrk") is None:
        raise SystemExit(f"wrk is missing: `make {target}` installs it from Debian")


def run_wrk(scenario: Scenario, duration: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run wrk once and return the JSON line printed by wrk_report.lua."""
    header_flags = [flag for k, v in scenario.headers.items() for flag in ("-H", f"{k}: {v}")]
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        *header_flags,
        f"http://{HOST}:{scenario.port}{scenario.path}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 60)
    report = next(line for line in reversed(out.stdout.splitlines()) if line.startswith("{"))
    stats: dict[str, Any] = json.loads(report)
    return stats


def feed_figures(stats: dict[str, Any]) -> dict[str, Any]:
    if not stats["requests"]:
        raise RuntimeError(f"wrk completed no request: {stats['errors']}")
    return {
        "req_per_s": round(stats["requests"] / (stats["duration_us"] / 1e6), 1),
        "p50_ms": stats["latency_us"]["p50"] / 1000,
        "p99_ms": stats["latency_us"]["p99"] / 1000,
        "errors": sum(stats["errors"].values()),
        "wrk": stats,
    }


def feed_wrk_args(args: argparse.Namespace) -> argparse.Namespace:
    """``run_wrk``'s settings from the options ``add_feed_window_options`` adds."""
    return argparse.Namespace(
        duration=args.feed_duration,
        warmup=args.warmup,
        threads=args.threads,
        connections=args.connections,
    )


def wrk_in_background(
    scenario: Scenario, wrk_args: argparse.Namespace
) -> asyncio.Task[dict[str, Any]]:
    """wrk over one measured window, in a thread, while the caller makes the server busy."""
    return asyncio.create_task(asyncio.to_thread(run_wrk, scenario, wrk_args.duration, wrk_args))


def idle_window(scenario: Scenario, wrk_args: argparse.Namespace) -> dict[str, Any]:
    check(scenario)
    print(f"~ feed idle: warm-up {wrk_args.warmup} s, measure {wrk_args.duration} s", flush=True)
    run_wrk(scenario, wrk_args.warmup, wrk_args)
    return feed_figures(run_wrk(scenario, wrk_args.duration, wrk_args))


def print_feed_windows(feed: dict[str, Any]) -> None:
    """The feed's figures idle and busy, a row each."""
    print(f"{'feed':<6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name in ("idle", "busy"):
        row = feed[name]
        print(
            f"{name:<6} {row['req_per_s']:>8.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
            f" {row['errors']:>7}"
        )


def plot_feed(ax: Axes, feed: dict[str, Any]) -> None:
    xs, width = [0, 1], 0.4
    for offset, key in ((-width / 2, "p50_ms"), (width / 2, "p99_ms")):
        values = [feed["idle"][key], feed["busy"][key]]
        ax.bar([x + offset for x in xs], values, width, label=key.removesuffix("_ms"))
    ax.set_xticks(xs, ["idle", "busy"])
    ax.set_ylabel("latency, ms")
    ax.set_title(f"staff feed, busy/idle p99 {feed['p99_ratio']:.2f}")
    ax.legend()


# Processes, read from /proc


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (Sanic's manager forks the worker, and a helper or two)."""
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < MAX_DESCENDANTS:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").iterdir():
            with suppress(OSError):
                children = [int(c) for c in (task / "children").read_text().split()]
                found += children
                todo += children
    return found


def cpu_ms(pid: int) -> float:
    """User plus system CPU a process has used, ms (10 ms resolution)."""
    after_name = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(after_name[11]) + int(after_name[12])
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


# Results


def print_head(head: str) -> None:
    """A table's heading, underlined."""
    print(head)
    print("-" * len(head))


def _new_stamp() -> str:
    """The run's time stamp, UTC, as results are named."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def results_doc(settings: dict[str, Any], **figures: Any) -> dict[str, Any]:
    """A run's JSON, stamped now: when, with which settings, on what machine, then its own
    figures."""
    return {"timestamp": _new_stamp(), "settings": settings, "machine": machine(), **figures}


def two_panels(width: float = 12) -> tuple[Figure, Axes, Axes]:
    """A figure of two plots side by side, as most benchmarks draw."""
    fig = Figure(figsize=(width, 4.5))
    left, right = fig.subplots(1, 2)
    return fig, left, right


def titled(fig: Figure, title: str) -> Figure:
    """The figure with its title, laid out."""
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def machine() -> dict[str, Any]:
    """What the figures were measured on (this machine is shared and noisy)."""
    return {"cpus": os.cpu_count(), "platform": platform.platform()}


def save_json(out: Path, name: str, doc: dict[str, Any]) -> None:
    """Keep a run twice: under its time stamp, and as ``<name>-latest.json``."""
    text = json.dumps(doc, indent=2) + "\n"
    (out / f"{name}-{doc['timestamp']}.json").write_text(text)
    (out / f"{name}-latest.json").write_text(text)


def keep_results(out: Path, name: str, doc: dict[str, Any], draw: Callable[[], Figure]) -> None:
    """Save the JSON (``save_json``), then the figure ``draw`` makes as
    ``<name>-latest.png``, and say where both are."""
    save_json(out, name, doc)
    draw().savefig(out / f"{name}-latest.png", dpi=100)
    print(f"results: {out / f'{name}-latest.json'}, {out / f'{name}-latest.png'}")
