"""Live-updates benchmark: thousands of held SSE streams on one worker, fan-out latency of a
team-wide and of a branch-wide update, and the worker's resident memory per idle stream.

One worker (WORKERS=1) on PostgreSQL. The streams are grown in steps (500, then 2,000, then
5,000 by default), keeping those already open, and every stream is one that both measured
updates reach: 80 % the branch's dispatcher, 10 % the admin, 10 % one staff member of a team
of that branch, whose job is the one edited. At each step: the worker's RSS once the streams
are open and idle, then a few team updates (POST /api/dispatch/team-updates) and a few job
edits (PATCH /api/dispatch/jobs/{id}, notes), one at a time. A stream's fan-out latency is
the time from just before the request is sent to the moment its event's bytes come in.

Run from the repository root:
    .venv/bin/python -m benchmarks.live --sizes 500 2000 5000
"""

import argparse
import asyncio
import math
import os
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import asyncpg
import orjson
import uvloop
from matplotlib.figure import Figure

from benchmarks.harness import (
    HOST,
    Connection,
    add_run_options,
    cpu_ms,
    descendants,
    failures_end_run,
    free_port,
    keep_results,
    prepare_out,
    print_head,
    results_doc,
    server_env,
    serving_fresh,
    sign_in,
    titled,
    two_panels,
)

LIVE_PATH = "/api/mobile/live-updates"
TEAM_UPDATES_PATH = "/api/dispatch/team-updates"
JOB_PATH = "/api/dispatch/jobs/{}"
DISPATCHER = "dispatcher@demo.local"
ADMIN = "admin@demo.local"
# Per ten streams: eight the dispatcher's, one the admin's, one the staff member's.
ROLE_CYCLE = ("dispatcher",) * 8 + ("admin", "staff")
TOKEN_SECONDS = 3600
WARMUP_STREAMS = 20
CONNECT_TIMEOUT_S = 30.0
DELIVERY_TIMEOUT_S = 15.0
GAUGE_TIMEOUT_S = 15.0
SETTLE_S = 3.0
POLL_S = 0.005
P99_GOAL_MS = 250.0
KB_GOAL = 30.0
GOAL_SIZE = 5000

SCOPE = """
SELECT t.id AS team, s.id AS staff, s.email AS staff_email, j.id AS job
FROM app_user d
JOIN team t ON t.branch = d.branch
JOIN app_user s ON s.team = t.id AND s.role = 'staff' AND s.active
JOIN job j ON j.assignee = s.id AND j.branch = d.branch AND j.deleted_at IS NULL
WHERE d.email = $1
ORDER BY t.id, s.email, j.scheduled_at, j.id
LIMIT 1
"""
LAST_EDIT = "SELECT max(id) FROM change_log WHERE job_id = $1 AND kind = 'job.updated'"


@dataclass
class Board:
    """What every stream reports, shared: how many heard each event id, and what went wrong."""

    heard: Counter[int] = field(default_factory=Counter)
    refused: int = 0
    lost: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        """Keep the first few problems whole; the counts say how many there were."""
        if len(self.problems) < 5:
            self.problems.append(problem)


class Stream(asyncio.Protocol):
    """One held SSE stream, parsed in the transport's callbacks: no task per stream, so 5,000
    cost the client little, and the receive time is taken as the bytes come in."""

    def __init__(self, board: Board, request: bytes) -> None:
        self.board = board
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.answered = False
        self.closing = False
        self.arrivals: dict[int, tuple[str, float]] = {}
        self.heartbeats = 0
        self._head = b""
        self._raw = b""
        self._left = 0
        self._text = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if not self.answered:
            data = self._read_head(data)
        if data:
            self._read_events(self._dechunk(data), now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.board.lost += 1
            self.board.note(f"the server ended a stream ({exc or 'EOF'}): {self._text[-200:]!r}")

    def close(self) -> None:
        """Hang up; the server must notice and forget the stream."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def _read_head(self, data: bytes) -> bytes:
        """The status line and headers; answers the body bytes that came with them."""
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            return b""
        head, body = self._head[:end], self._head[end + 4 :]
        self.answered = True
        if not head.startswith(b"HTTP/1.1 200 ") or b"transfer-encoding: chunked" not in head:
            self.board.refused += 1
            self.board.note(f"stream refused: {head.decode(errors='replace')} {body[:300]!r}")
            self.close()
            return b""
        return body

    def _dechunk(self, data: bytes) -> bytes:
        """The stream's bytes without the chunked framing; each pass consumes input."""
        self._raw += data
        out = []
        while self._raw:
            if self._left:
                piece = self._raw[: self._left]
                out.append(piece)
                self._left -= len(piece)
                self._raw = self._raw[len(piece) :]
                continue
            end = self._raw.find(b"\r\n")
            if end < 0:
                break
            line, self._raw = self._raw[:end], self._raw[end + 2 :]
            if line:  # an empty line is the CRLF that closes a chunk
                self._left = int(line.split(b";")[0], 16)
        return b"".join(out)

    def _read_events(self, text: bytes, now: float) -> None:
        """Whole SSE blocks (up to a blank line): events, heartbeat comments, the retry hint."""
        self._text += text
        while (end := self._text.find(b"\n\n")) >= 0:
            block, self._text = self._text[:end], self._text[end + 2 :]
            if block.startswith(b":"):
                self.heartbeats += 1
                continue
            fields = dict(line.split(b": ", 1) for line in block.split(b"\n") if b": " in line)
            if b"id" in fields and b"event" in fields:
                self._arrived(int(fields[b"id"]), fields[b"event"].decode(), now)

    def _arrived(self, event_id: int, name: str, now: float) -> None:
        if event_id in self.arrivals:
            self.board.duplicates += 1
            return
        self.arrivals[event_id] = (name, now)
        self.board.heard[event_id] += 1


@dataclass(frozen=True)
class Audience:
    """Who the streams are and what the updates touch; one sign-in per account."""

    tokens: dict[str, str]
    sender: str
    team_id: str
    staff_email: str
    job_id: str


@dataclass
class Bench:
    """The run's state: the server, the client's streams and a control connection."""

    server_pid: int
    port: int
    board: Board
    control: Connection
    db: asyncpg.Connection
    audience: Audience
    worker: int = 0
    streams: list[Stream] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Scenario:
    """One kind of update: how to send the n-th one (answers its event id), and its name."""

    name: str
    description: str
    event: str
    send: Callable[[Bench, int], Awaitable[int]]


def parse_args() -> argparse.Namespace:
    """Read the run settings; the defaults are the issue's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[500, 2000, 5000], help="streams held, in steps"
    )
    parser.add_argument("--updates", type=int, default=5, help="updates per scenario and size")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between updates")
    parser.add_argument("--batch", type=int, default=200, help="streams opened at a time")
    add_run_options(parser, "tinedy_live_bench")
    args = parser.parse_args()
    if min(args.sizes) < 1 or args.updates < 1 or args.batch < 1 or args.interval < 0:
        parser.error("--sizes, --updates and --batch must be positive, --interval not negative")
    args.sizes = sorted(set(args.sizes))
    return args


def raise_open_files(needed: int) -> int:
    """Lift this process's open-files limit to the hard limit; the server, started after,
    inherits it. Fails when even the hard limit cannot hold the streams."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, needed) if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise SystemExit(f"open-files hard limit {hard} < {needed}: raise it (ulimit -Hn)")
    return target


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# The server process and its worker, read from /proc.


def server_socket_inode(port: int, client_port: int) -> str:
    """The inode of the server's end of one loopback connection, from /proc/net/tcp."""
    local, remote = f"0100007F:{port:04X}", f"0100007F:{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        columns = line.split()
        if columns[1] == local and columns[2] == remote:
            return columns[9]
    raise RuntimeError(f"no server socket for client port {client_port} in /proc/net/tcp")


def holder_of(inode: str, pids: list[int]) -> int:
    """Which process holds the socket: the worker that serves the streams."""
    target = f"socket:[{inode}]"
    for pid in pids:
        with suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
    raise RuntimeError(f"no process under the server holds {target}")


def rss_kb(pid: int) -> int:
    """Resident memory of a process, kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


# Setting up: accounts, streams, the server's own count of them.


async def load_audience(port: int, db: asyncpg.Connection) -> Audience:
    """The dispatcher's branch, a team of it, one of its staff and a job of theirs; then one
    sign-in per account (each a hashed password), the tokens shared by many streams."""
    row = await db.fetchrow(SCOPE, DISPATCHER)
    if row is None:
        raise RuntimeError("the demo has no staff with a job in a team of the dispatcher's branch")
    accounts = {"dispatcher": DISPATCHER, "admin": ADMIN, "staff": str(row["staff_email"])}
    conn = await Connection.open(port)
    try:
        tokens = {
            role: (await sign_in(conn, email, f"live-bench-{role}")).token
            for role, email in accounts.items()
        }
        sender = (await sign_in(conn, DISPATCHER, "live-bench-sender")).token
    finally:
        conn.close()
    return Audience(tokens, sender, str(row["team"]), accounts["staff"], str(row["job"]))


def stream_request(token: str) -> bytes:
    """The whole GET of a stream, written once the connection is up."""
    return (
        f"GET {LIVE_PATH} HTTP/1.1\r\nHost: {HOST}\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()


async def until(done: Callable[[], bool], seconds: float) -> bool:
    """Poll ``done`` until it holds or ``seconds`` pass; answers whether it held."""
    deadline = time.perf_counter() + seconds
    while not done():
        if time.perf_counter() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


def all_answered(streams: list[Stream]) -> bool:
    return all(s.answered for s in streams)


async def connect(port: int, stream: Stream) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: stream, HOST, port)


async def open_streams(bench: Bench, count: int, batch: int) -> list[Stream]:
    """Open ``count`` streams, ``batch`` at a time, each batch answered before the next;
    roles follow ROLE_CYCLE by position, so every size has the same mix."""
    opened: list[Stream] = []
    tokens = bench.audience.tokens
    first = len(bench.streams)
    for start in range(first, first + count, batch):
        positions = range(start, min(start + batch, first + count))
        roles = [ROLE_CYCLE[i % len(ROLE_CYCLE)] for i in positions]
        chunk = [Stream(bench.board, stream_request(tokens[role])) for role in roles]
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await asyncio.gather(*(connect(bench.port, stream) for stream in chunk))
        if not await until(partial(all_answered, chunk), CONNECT_TIMEOUT_S):
            raise RuntimeError(f"streams not answered within {CONNECT_TIMEOUT_S:.0f} s")
        if bench.board.refused:
            raise RuntimeError(bench.board.problems[-1])
        opened += chunk
    return opened


async def worker_metrics(bench: Bench, prefix: str) -> dict[str, float]:
    """The worker's /metrics samples whose line starts with ``prefix``, by name and labels."""
    status, body = await bench.control.send("GET", "/metrics", None)
    if status != 200:
        raise RuntimeError(f"/metrics: {status}")
    lines = body.decode().splitlines()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith(prefix)
    }


async def live_streams_gauge(bench: Bench) -> float | None:
    """The worker's own count of open streams."""
    return (await worker_metrics(bench, "tinedy_live_streams ")).get("tinedy_live_streams")


async def gc_collections(bench: Bench) -> dict[str, float]:
    """The worker's garbage collections so far, per generation."""
    counts = await worker_metrics(bench, "python_gc_collections_total")
    return {name.split('"')[1]: n for name, n in counts.items()}


async def expect_gauge(bench: Bench, count: int, when: str) -> None:
    """Wait until the worker counts ``count`` streams (every one subscribed to the hub, or
    every closed one forgotten); a count that never comes is a problem to report."""
    deadline = time.perf_counter() + GAUGE_TIMEOUT_S
    gauge = await live_streams_gauge(bench)
    while gauge != count and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
        gauge = await live_streams_gauge(bench)
    if gauge != count:
        bench.problems.append(f"{when}: the worker counts {gauge} live streams, expected {count}")


# The updates.


async def send_team_update(bench: Bench, n: int) -> int:
    body = orjson.dumps({"teamId": bench.audience.team_id, "message": f"live benchmark {n}"})
    status, answer = await bench.control.send(
        "POST", TEAM_UPDATES_PATH, bench.audience.sender, body
    )
    if status != 202:
        raise RuntimeError(f"POST {TEAM_UPDATES_PATH}: {status} {answer[:300]!r}")
    return int(orjson.loads(answer)["eventId"])


async def edit_job(bench: Bench, n: int) -> int:
    """A notes change (a new text each time, so it always writes); its event id is the
    newest change-log row of the job."""
    path = JOB_PATH.format(bench.audience.job_id)
    body = orjson.dumps({"notes": f"live benchmark {n} {time.time()}"})
    status, answer = await bench.control.send("PATCH", path, bench.audience.sender, body)
    if status != 200:
        raise RuntimeError(f"PATCH {path}: {status} {answer[:300]!r}")
    event_id: int = await bench.db.fetchval(LAST_EDIT, bench.audience.job_id)
    return event_id


SCENARIOS = (
    Scenario("team-wide", "POST team-updates", "team-update", send_team_update),
    Scenario("branch-wide", "PATCH a job's notes", "job-updated", edit_job),
)


async def time_update(bench: Bench, scenario: Scenario, n: int) -> dict[str, Any]:
    """Send one update and wait until every stream has it (or the timeout): per stream, the
    time from just before sending to its event's arrival."""
    streams = list(bench.streams)
    gc_before = await gc_collections(bench)
    worker_before, client_before = cpu_ms(bench.worker), time.process_time()
    sent = time.perf_counter()
    event_id = await scenario.send(bench, n)
    answered = time.perf_counter()
    await until(lambda: bench.board.heard[event_id] >= len(streams), DELIVERY_TIMEOUT_S)
    arrivals = [s.arrivals[event_id] for s in streams if event_id in s.arrivals]
    worker_cpu, client_cpu = (
        cpu_ms(bench.worker) - worker_before,
        time.process_time() - client_before,
    )
    gc_after = await gc_collections(bench)
    return {
        "event_id": event_id,
        "request_ms": (answered - sent) * 1000,
        "latencies_ms": sorted((at - sent) * 1000 for _, at in arrivals),
        "names": dict(Counter(name for name, _ in arrivals)),
        "expected": len(streams),
        "worker_cpu_ms": worker_cpu,
        "client_cpu_ms": client_cpu * 1000,
        "worker_gc_runs": {gen: gc_after[gen] - n for gen, n in gc_before.items()},
    }


async def run_scenario(
    bench: Bench, scenario: Scenario, count: int, interval: float
) -> list[dict[str, Any]]:
    """``count`` updates, one at a time, each sent ``interval`` after the last was."""
    updates = []
    due = time.perf_counter()
    for n in range(count):
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        due = time.perf_counter() + interval
        updates.append(await time_update(bench, scenario, n))
    return updates


def summarise(scenario: Scenario, size: int, updates: list[dict[str, Any]]) -> dict[str, Any]:
    """Fan-out latency over every (stream, update) pair, and what did not arrive."""
    latencies = sorted(ms for u in updates for ms in u["latencies_ms"])
    names: Counter[str] = Counter()
    for u in updates:
        names.update(u["names"])
    delivered = len(latencies)
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "connections": size,
        "updates": len(updates),
        "delivered": delivered,
        "expected": sum(u["expected"] for u in updates),
        "p50_ms": percentile(latencies, 50) if latencies else None,
        "p99_ms": percentile(latencies, 99) if latencies else None,
        "max_ms": latencies[-1] if latencies else None,
        "request_ms_mean": sum(u["request_ms"] for u in updates) / len(updates),
        "worker_cpu_ms_mean": sum(u["worker_cpu_ms"] for u in updates) / len(updates),
        "client_cpu_ms_mean": sum(u["client_cpu_ms"] for u in updates) / len(updates),
        "worker_full_gcs": sum(u["worker_gc_runs"].get("2", 0) for u in updates),
        "event_names": dict(names),
        "unexpected_names": {k: v for k, v in names.items() if k != scenario.event},
        "per_update": [
            {k: v for k, v in u.items() if k != "latencies_ms"}
            | {"last_ms": u["latencies_ms"][-1] if u["latencies_ms"] else None}
            for u in updates
        ],
    }


# The run: warm up and find the worker, then grow the streams and measure at each size.


async def warm_up(bench: Bench, batch: int) -> int:
    """A few streams and one update of each kind, so the code paths are loaded before the
    idle figure; they also show which process holds the streams. Answers the idle RSS."""
    bench.streams = await open_streams(bench, WARMUP_STREAMS, batch)
    transport = bench.streams[0].transport
    client_port = cast(tuple[str, int], transport.get_extra_info("sockname"))[1] if transport else 0
    inode = server_socket_inode(bench.port, client_port)
    bench.worker = holder_of(inode, descendants(bench.server_pid))
    await expect_gauge(bench, WARMUP_STREAMS, "warm-up")
    for scenario in SCENARIOS:
        await time_update(bench, scenario, -1)
    close_streams(bench)
    await expect_gauge(bench, 0, "after closing the warm-up streams")
    await asyncio.sleep(SETTLE_S)
    return rss_kb(bench.worker)


def close_streams(bench: Bench) -> None:
    for stream in bench.streams:
        stream.close()
    bench.streams = []


async def measure_size(
    bench: Bench, size: int, idle_kb: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Grow to ``size`` streams, read the idle RSS, then time both kinds of update."""
    started = time.perf_counter()
    bench.streams += await open_streams(bench, size - len(bench.streams), args.batch)
    ramp_s = time.perf_counter() - started
    await expect_gauge(bench, size, f"{size} streams open")
    await asyncio.sleep(SETTLE_S)
    held_kb = rss_kb(bench.worker)
    print(f"~ {size} streams held; worker RSS {held_kb / 1024:.1f} MiB", flush=True)
    scenarios = [
        summarise(s, size, await run_scenario(bench, s, args.updates, args.interval))
        for s in SCENARIOS
    ]
    return {
        "connections": size,
        "ramp_s": ramp_s,
        "rss_idle_server_kb": idle_kb,
        "rss_held_kb": held_kb,
        "rss_after_updates_kb": rss_kb(bench.worker),
        "kb_per_connection": (held_kb - idle_kb) / size,
        "heartbeats_received": sum(s.heartbeats for s in bench.streams),
        "scenarios": scenarios,
    }


async def drive(server_pid: int, port: int, args: argparse.Namespace) -> dict[str, Any]:
    """Everything the client does against the running server."""
    db = await asyncpg.connect(args.database_url)
    control = await Connection.open(port)
    try:
        bench = Bench(server_pid, port, Board(), control, db, await load_audience(port, db))
        idle_kb = await warm_up(bench, args.batch)
        print(f"~ worker {bench.worker}: {idle_kb / 1024:.1f} MiB idle", flush=True)
        sizes = [await measure_size(bench, size, idle_kb, args) for size in args.sizes]
        close_streams(bench)
        await expect_gauge(bench, 0, "after closing every stream")
        return finish(bench, sizes, await live_request_counts(bench))
    finally:
        control.close()
        await db.close()


async def live_request_counts(bench: Bench) -> dict[str, float]:
    """The worker's request counter for the stream route, by status, once all are closed."""
    counts = await worker_metrics(bench, "tinedy_http_requests_total{")
    return {name: n for name, n in counts.items() if f'route="{LIVE_PATH}"' in name}


def finish(bench: Bench, sizes: list[dict[str, Any]], counts: dict[str, float]) -> dict[str, Any]:
    """The run's figures, with every problem the client saw."""
    board = bench.board
    problems = bench.problems + board.problems
    if board.lost or board.duplicates:
        problems.append(f"{board.lost} streams ended by the server, {board.duplicates} duplicates")
    for size in sizes:
        for s in size["scenarios"]:
            if s["delivered"] != s["expected"] or s["unexpected_names"]:
                problems.append(
                    f"{size['connections']} {s['scenario']}: {s['delivered']}/{s['expected']}"
                    f" delivered, unexpected names {s['unexpected_names']}"
                )
    audience = bench.audience
    return {
        "worker_pid": bench.worker,
        "team_id": audience.team_id,
        "staff": audience.staff_email,
        "job_id": audience.job_id,
        "sizes": sizes,
        "live_requests_by_status": counts,
        "problems": problems,
    }


def server_log_errors(log_path: Path) -> list[str]:
    """Lines of the server log that say something went wrong (first few)."""
    marks = ("Traceback", "ERROR", "Exception", "CRITICAL")
    lines = log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if any(mark in line for mark in marks)][:20]


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Set up the database, start one worker with the raised limit, drive it, stop it."""
    limit = raise_open_files(max(args.sizes) + 1024)
    port = free_port()
    env = {
        **server_env(args.database_url, port, 1),
        "ACCESS_TOKEN_SECONDS": str(TOKEN_SECONDS),
    }
    server_log = args.out / "live-server.log"
    with serving_fresh(args.database_url, env, port, server_log) as server:
        run = uvloop.run(drive(server.pid, port, args))
        if server.poll() is not None:
            run["problems"].append(f"the server exited with {server.returncode}")
    run["open_files_limit"] = limit
    run["server_log_errors"] = server_log_errors(server_log)
    return run


def verdict(run: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals, judged at the largest size measured (they are set for 5,000)."""
    largest = run["sizes"][-1]
    p99s = {s["scenario"]: s["p99_ms"] for s in largest["scenarios"]}
    delivered = all(s["delivered"] == s["expected"] for s in largest["scenarios"])
    p99_met = delivered and all(p is not None and p < P99_GOAL_MS for p in p99s.values())
    return {
        "connections": largest["connections"],
        "goal_connections": GOAL_SIZE,
        "p99_ms": p99s,
        "p99_goal_ms": P99_GOAL_MS,
        "p99_met": p99_met,
        "all_delivered": delivered,
        "kb_per_connection": largest["kb_per_connection"],
        "kb_goal": KB_GOAL,
        "kb_met": largest["kb_per_connection"] < KB_GOAL,
    }


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(run: dict[str, Any], goals: dict[str, Any]) -> None:
    """Human-readable summary on stdout."""
    head = (
        f"{'streams':>7}  {'scenario':<12}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'delivered':>14}{'req ms':>8}{'srv cpu':>8}{'cli cpu':>8}{'KB/stream':>10}"
    )
    print_head(head)
    for size in run["sizes"]:
        for s in size["scenarios"]:
            print(
                f"{size['connections']:>7}  {s['scenario']:<12}{fmt_ms(s['p50_ms']):>8}"
                f"{fmt_ms(s['p99_ms']):>8}{fmt_ms(s['max_ms']):>8}"
                f"{s['delivered']:>7}/{s['expected']:<6}{s['request_ms_mean']:>8.1f}"
                f"{s['worker_cpu_ms_mean']:>8.0f}{s['client_cpu_ms_mean']:>8.0f}"
                f"{size['kb_per_connection']:>10.1f}"
            )
    print_verdict(goals)
    for problem in run["problems"]:
        print(f"PROBLEM: {problem}")
    for line in run["server_log_errors"]:
        print(f"server log: {line}")


def print_verdict(goals: dict[str, Any]) -> None:
    met = {True: "met", False: "NOT met"}
    p99s = ", ".join(f"{name} {fmt_ms(p)} ms" for name, p in goals["p99_ms"].items())
    scope = "" if goals["connections"] == GOAL_SIZE else f" (goals are for {GOAL_SIZE})"
    print(
        f"at {goals['connections']} streams{scope}: p99 {p99s} (goal < {P99_GOAL_MS:.0f} ms,"
        f" every stream reached: {met[goals['p99_met']]});"
        f" {goals['kb_per_connection']:.1f} KB per idle stream (goal < {KB_GOAL:.0f} KB:"
        f" {met[goals['kb_met']]})"
    )


def scenario_of(size: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in size["scenarios"] if s["scenario"] == name)
    return found


def plot(run: dict[str, Any], title: str) -> Figure:
    """p50/p99 fan-out latency and KB per idle stream against the number of streams."""
    sizes = [size["connections"] for size in run["sizes"]]
    fig, left, right = two_panels()
    for n, scenario in enumerate(SCENARIOS):
        rows = [scenario_of(size, scenario.name) for size in run["sizes"]]
        color = f"C{n}"
        left.plot(
            sizes, [r["p99_ms"] for r in rows], "o-", color=color, label=f"{scenario.name} p99"
        )
        left.plot(
            sizes, [r["p50_ms"] for r in rows], "o:", color=color, label=f"{scenario.name} p50"
        )
    left.axhline(P99_GOAL_MS, color="tab:red", linestyle="--", label="p99 goal")
    left.set_xlabel("streams held")
    left.set_ylabel("fan-out latency, ms")
    left.set_title("send to arrival, every stream")
    left.legend()
    right.plot(sizes, [size["kb_per_connection"] for size in run["sizes"]], "o-")
    right.axhline(KB_GOAL, color="tab:red", linestyle="--", label="goal")
    right.set_xlabel("streams held")
    right.set_ylabel("worker RSS per idle stream, KB")
    right.set_ylim(bottom=0)
    right.set_title("memory per idle stream")
    right.legend()
    return titled(fig, title)


def write_results(run: dict[str, Any], goals: dict[str, Any], args: argparse.Namespace) -> None:
    """Save the JSON (timestamped and latest) and the plot."""
    settings = {
        "sizes": args.sizes,
        "updates": args.updates,
        "interval_s": args.interval,
        "batch": args.batch,
        "workers": 1,
        "role_cycle": list(ROLE_CYCLE),
        "heartbeat_s": float(os.environ.get("LIVE_HEARTBEAT_SECONDS", "15")),
    }
    doc = results_doc(settings, **run, verdict=goals)
    title = (
        f"live updates {doc['timestamp']}: one worker, {args.updates} updates per scenario and size"
    )
    keep_results(args.out, "live", doc, lambda: plot(run, title))


def main() -> None:
    """Entry point."""
    args = parse_args()
    prepare_out(args)
    with failures_end_run(OSError, asyncpg.PostgresError):
        run = run_all(args)
    goals = verdict(run)
    print_table(run, goals)
    write_results(run, goals, args)


if __name__ == "__main__":
    main()
