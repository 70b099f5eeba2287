"""Capacity figures: what one request of each kind costs the server, PostgreSQL and Redis.

For each endpoint a phone or the office uses in a day (the feed's first page in br and its
304, a job's detail, a sync batch of status changes and checklist ticks, a GPS check-in, a
small photo upload, a dispatcher's edit, the CRM's event page, an idle live stream's
heartbeat), a bounded load of a few seconds against one server process (WORKERS=1) on a
freshly seeded PostgreSQL database, with the shared cache and the rate limits in a Redis of
the run's own, and per request:

- the server's CPU (user + system of the server and every process under it, from /proc),
- PostgreSQL commits (``pg_stat_database.xact_commit`` of the database),
- Redis commands (``total_commands_processed`` of the run's own redis-server),
- bytes on the wire, request and response, as the client counted them.

What the server spends when nothing is asked (its schedules, the photo worker's polling) is
measured first and taken off each endpoint's figures. PostgreSQL flushes a backend's counts
up to ten seconds after it falls idle, so each reading waits ``--settle`` seconds first. The
machine is shared: CPU per request is the figure to carry, not requests per second.

Run from the repository root:
    .venv/bin/python -m benchmarks.capacity --seconds 4
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import asyncpg
import orjson
import redis
from matplotlib.figure import Figure
from PIL import Image

from benchmarks.harness import (
    FEED_PATH,
    HOST,
    LOGIN_PATH,
    PASSWORD,
    add_run_options,
    cpu_ms,
    descendants,
    failures_end_run,
    free_port,
    jwt_claims,
    keep_results,
    prepare_out,
    print_head,
    results_doc,
    seed_fresh_database,
    server_env,
    serving,
    titled,
    two_panels,
)
from server.core.clock import BANGKOK

SYNC_PATH = "/api/mobile/sync"
EVENTS_PATH = "/api/integration/v1/events"
LIVE_PATH = "/api/mobile/live-updates"
EDIT_PATH = "/api/dispatch/jobs/{}"
BATCH_SIZE = 10
HEARTBEAT_S = 1.0  # the run's heartbeat, so a few seconds hold many
REQUEST_TIMEOUT_S = 10.0
MAX_UPLOADS = 300  # photos per window, at most (each is processed after)
DRAIN_TIMEOUT_S = 60.0
SERVER = [sys.executable, "-m", "server"]
RUN_SELF = [sys.executable, "-m", "benchmarks.capacity"]
STATUS_STEPS = ("en_route", "in_progress")  # a job's first two batches move it on


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="load seconds per endpoint")
    parser.add_argument("--connections", type=int, default=4, help="client connections")
    parser.add_argument(
        "--max-requests", type=int, default=20_000, help="requests per endpoint, at most"
    )
    parser.add_argument("--streams", type=int, default=40, help="idle live streams held")
    parser.add_argument(
        "--settle", type=float, default=11.0, help="s before each reading (PostgreSQL's flush)"
    )
    parser.add_argument(
        "--fleet-json",
        type=Path,
        help="a fleet run's JSON (benchmarks.fleet): its server CPU against the model's",
    )
    parser.add_argument(
        "--report", type=Path, help="only work the model out again from a run's JSON"
    )
    parser.add_argument(
        "--db-delay-ms",
        type=float,
        help="PostgreSQL reached through a relay that holds what the app sends this long, one"
        " way only (the kernel here has no netem; asyncio's timers wake to the millisecond, so"
        " one delayed leg per round trip is the finest); the round trip is measured and kept",
    )
    parser.add_argument("--relay", type=int, help=argparse.SUPPRESS)  # the relay's own process
    add_run_options(parser, "capacity_bench")
    return parser.parse_args()


# A client that counts its bytes


@dataclass
class Tally:
    """What one endpoint's load did, over all its connections."""

    units: int = 0  # actions done: requests, or photos (two requests each)
    requests: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    failures: int = 0
    first_failure: str | None = None
    latencies_ms: list[float] = field(default_factory=list)

    def fail(self, detail: str) -> None:
        self.failures += 1
        self.first_failure = self.first_failure or detail


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Wire:
    """One keep-alive HTTP/1.1 connection that counts the bytes it sends and reads."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tally: Tally):
        self.reader, self.writer, self.tally = reader, writer, tally

    @classmethod
    async def open(cls, port: int, tally: Tally) -> Wire:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer, tally)

    def close(self) -> None:
        self.writer.close()

    async def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        expect: int = 200,
    ) -> Answer:
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        if body:
            head += f"Content-Length: {len(body)}\r\n"
        raw = head.encode() + b"\r\n" + body
        started = time.perf_counter()
        self.writer.write(raw)
        await self.writer.drain()
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            answer, wire_in = await self._read()
        self.tally.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.tally.requests += 1
        self.tally.bytes_out += len(raw)
        self.tally.bytes_in += wire_in
        if answer.status != expect:
            raise RuntimeError(f"{method} {path}: {answer.status} {answer.body[:300]!r}")
        return answer

    async def _read(self) -> tuple[Answer, int]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = raw.decode("latin-1").rstrip("\r\n").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        wire = len(raw)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size_line = await self.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                wire += len(size_line) + len(chunk)
                if not size:
                    break
                parts.append(chunk[:-2])
            body = b"".join(parts)
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
            wire += len(body)
        return Answer(int(status_line.split()[1]), headers, body), wire


# The run's world: sessions, jobs, a key


@dataclass
class Staff:
    """A phone signed in as a staff member, with its jobs (id -> version, checklist, place)."""

    token: str
    device_id: str
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    etag: str = ""
    rounds: dict[str, int] = field(default_factory=dict)


def bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


async def sign_in(wire: Wire, email: str, device_id: str) -> Staff:
    device = {"id": device_id, "name": "capacity benchmark", "platform": "android"}
    body = orjson.dumps({"email": email, "password": PASSWORD, "device": device})
    answer = await wire.call("POST", LOGIN_PATH, {"Content-Type": "application/json"}, body)
    return Staff(orjson.loads(answer.body)["accessToken"], device_id)


async def load_jobs(wire: Wire, staff: Staff) -> None:
    """The staff member's first page, and each job's version, checklist and place."""
    path = f"{FEED_PATH}?status=assigned&limit=200"
    page = orjson.loads((await wire.call("GET", path, bearer(staff.token))).body)
    me = str(jwt_claims(staff.token)["sub"])
    for job in page["jobs"]:
        if str(job["assigneeId"]) != me:
            continue  # a crew member's: only the one assigned moves it along
        detail = orjson.loads(
            (await wire.call("GET", f"{FEED_PATH}/{job['id']}", bearer(staff.token))).body
        )
        staff.jobs[job["id"]] = {
            "version": int(detail["job"]["version"]),
            "items": [item["id"] for item in detail["checklistItems"]],
            "location": detail["location"],
        }


def create_api_key(env: dict[str, str]) -> str:
    """A CRM key that may read the event feed (printed once by the command)."""
    done = subprocess.run(
        [*SERVER, "create-api-key", "--name", "capacity-crm", "--scope", "events:read"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.split()[0]


def small_jpeg() -> bytes:
    """A 640x480 JPEG that compresses like a photo, as the fleet's phones send."""
    rng = random.Random(7)
    image = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    noise = Image.frombytes("RGB", (640, 480), rng.randbytes(640 * 480 * 3))
    out = io.BytesIO()
    Image.blend(image, noise, 0.3).save(out, "JPEG", quality=85)
    return out.getvalue()


def distinct(jpeg: bytes) -> bytes:
    """The photo with a comment of its own: photos are stored by content."""
    comment = uuid.uuid4().hex.encode()
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def now() -> str:
    return datetime.now(BANGKOK).isoformat(timespec="milliseconds")


# Each endpoint's one action, on a connection of its own


Action = Callable[[Wire], Awaitable[None]]


def feed_first_page(staff: Staff) -> Action:
    async def act(wire: Wire) -> None:
        answer = await wire.call("GET", FEED_PATH, bearer(staff.token, **{"Accept-Encoding": "br"}))
        if answer.headers.get("content-encoding") != "br":
            raise RuntimeError("the feed's first page is not in br")

    return act


def feed_304(staff: Staff) -> Action:
    async def act(wire: Wire) -> None:
        headers = bearer(staff.token, **{"Accept-Encoding": "br", "If-None-Match": staff.etag})
        await wire.call("GET", FEED_PATH, headers, expect=304)

    return act


def job_detail(staff: Staff) -> Action:
    jobs = itertools.cycle(list(staff.jobs))

    async def act(wire: Wire) -> None:
        headers = bearer(staff.token, **{"Accept-Encoding": "br"})
        await wire.call("GET", f"{FEED_PATH}/{next(jobs)}", headers)

    return act


def sync_batch(staff: Staff, size: int = BATCH_SIZE) -> Action:
    """Ten mutations over ten of the phone's jobs: each ticks (or unticks) a checklist item,
    and a job's first two batches also move it on (en route, then in progress)."""
    jobs = list(staff.jobs)
    turn = itertools.count()

    async def act(wire: Wire) -> None:
        n = next(turn)
        picked = [jobs[(n * size + i) % len(jobs)] for i in range(size)]
        mutations = []
        for job_id in picked:
            job, done = staff.jobs[job_id], staff.rounds.get(job_id, 0)
            staff.rounds[job_id] = done + 1
            update: dict[str, Any] = {
                "mutationId": uuid.uuid4().hex,
                "jobId": job_id,
                "baseVersion": job["version"],
                "clientTimestamp": now(),
            }
            if job["items"]:
                item = job["items"][done % len(job["items"])]
                update["checklist"] = [
                    {"itemId": item, "done": (done // len(job["items"])) % 2 == 0}
                ]
            if done < len(STATUS_STEPS):
                update["status"] = STATUS_STEPS[done]
            mutations.append(update)
        body = orjson.dumps(
            {
                "deviceId": staff.device_id,
                "deviceTime": now(),
                "pendingUpdates": mutations,
                "photos": [],
                "checkIns": [],
            }
        )
        answer = await wire.call(
            "POST", SYNC_PATH, bearer(staff.token, **{"Content-Type": "application/json"}), body
        )
        result = orjson.loads(answer.body)
        if result["failed"]:
            raise RuntimeError(f"sync: a mutation failed: {result['failed'][0]}")
        for mutation in mutations:
            if mutation["mutationId"] in result["synced"]:
                staff.jobs[mutation["jobId"]]["version"] += 1
        for conflict in result["conflicts"]:
            staff.jobs[conflict["jobId"]]["version"] = int(conflict["job"]["version"])

    return act


def check_in(staff: Staff) -> Action:
    jobs = itertools.cycle(list(staff.jobs))
    kinds = itertools.cycle(("in", "out"))

    async def act(wire: Wire) -> None:
        job_id, kind = next(jobs), next(kinds)
        body = orjson.dumps(
            {
                "type": kind,
                "location": staff.jobs[job_id]["location"],
                "accuracy": 12.0,
                "timestamp": now(),
                "mutationId": uuid.uuid4().hex,
            }
        )
        headers = bearer(staff.token, **{"Content-Type": "application/json"})
        await wire.call("POST", f"{FEED_PATH}/{job_id}/checkin", headers, body, expect=201)

    return act


def photo_upload(staff: Staff, jpeg: bytes) -> Action:
    """An upload URL asked for, then the bytes PUT to it: two requests, one photo."""
    jobs = itertools.cycle(list(staff.jobs))

    async def act(wire: Wire) -> None:
        ask = orjson.dumps({"kind": "before", "contentType": "image/jpeg"})
        headers = bearer(staff.token, **{"Content-Type": "application/json"})
        answer = await wire.call(
            "POST", f"{FEED_PATH}/{next(jobs)}/photos/upload-url", headers, ask, expect=201
        )
        grant = orjson.loads(answer.body)
        url = urlsplit(grant["uploadUrl"])
        path = url.path + (f"?{url.query}" if url.query else "")
        put = {"Content-Type": "image/jpeg", **(grant.get("uploadHeaders") or {})}
        await wire.call("PUT", path, put, distinct(jpeg), expect=202)

    return act


def dispatch_edit(token: str, jobs: list[str]) -> Action:
    turn = itertools.count()

    async def act(wire: Wire) -> None:
        n = next(turn)
        body = orjson.dumps({"priority": ("normal", "high")[(n // len(jobs)) % 2]})
        headers = bearer(token, **{"Content-Type": "application/json"})
        await wire.call("PATCH", EDIT_PATH.format(jobs[n % len(jobs)]), headers, body)

    return act


def crm_events(key: str) -> Action:
    async def act(wire: Wire) -> None:
        headers = bearer(key, **{"Accept-Encoding": "br, gzip"})
        await wire.call("GET", f"{EVENTS_PATH}?after=0&limit=50", headers)

    return act


# Readings


@dataclass(frozen=True)
class Reading:
    """The counters at one moment."""

    at: float
    cpu_ms: float
    commits: int
    redis_commands: int
    rss_kb: int


class Meter:
    """Reads the server's CPU and memory from /proc, the database's commits and the run's
    Redis's commands."""

    def __init__(self, server_pid: int, database: str, redis_url: str) -> None:
        self.pid = server_pid
        self.database = database
        self.redis = redis.Redis.from_url(redis_url)
        self.conn: asyncpg.Connection | None = None

    async def open(self, database_url: str) -> None:
        self.conn = await asyncpg.connect(database_url)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
        self.redis.close()

    def processes(self) -> list[int]:
        return [self.pid, *descendants(self.pid)]

    async def read(self, settle: float) -> Reading:
        await asyncio.sleep(settle)
        assert self.conn is not None
        async with self.conn.transaction():
            await self.conn.execute("SELECT pg_stat_clear_snapshot()")
            commits = await self.conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", self.database
            )
        cpu = rss = 0.0
        for pid in self.processes():
            with suppress(OSError):
                cpu += cpu_ms(pid)
                rss += rss_kb(pid)
        stats = cast(dict[str, Any], self.redis.info("stats"))
        commands = int(stats["total_commands_processed"])
        return Reading(time.monotonic(), cpu, int(commits), commands, int(rss))

    async def queued_photos(self) -> int:
        assert self.conn is not None
        count: int = await self.conn.fetchval(
            "SELECT count(*) FROM photo WHERE status IN ('queued', 'processing')"
        )
        return count


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass(frozen=True)
class Idle:
    """What the server spends per second when nothing is asked."""

    cpu_ms_per_s: float
    commits_per_s: float
    redis_per_s: float


def idle_rates(before: Reading, after: Reading) -> Idle:
    span = after.at - before.at
    return Idle(
        (after.cpu_ms - before.cpu_ms) / span,
        # the reading's own transaction is one commit; the INFO call one command
        max(0.0, (after.commits - before.commits - 1) / span),
        max(0.0, (after.redis_commands - before.redis_commands - 1) / span),
    )


def net_figures(
    name: str, units: int, tally: Tally, before: Reading, after: Reading, idle: Idle, load_s: float
) -> dict[str, Any]:
    """Per unit (a request, a photo, a heartbeat): what the load added over idle."""
    span = after.at - before.at
    cpu = after.cpu_ms - before.cpu_ms - idle.cpu_ms_per_s * span
    commits = after.commits - before.commits - 1 - idle.commits_per_s * span
    commands = after.redis_commands - before.redis_commands - 1 - idle.redis_per_s * span
    units = max(units, 1)
    return {
        "name": name,
        "units": units,
        "requests": tally.requests,
        "load_s": round(load_s, 2),
        "units_per_s": round(units / load_s, 1) if load_s else None,
        "cpu_ms": round(max(cpu, 0.0) / units, 3),
        "cpu_ms_gross": round((after.cpu_ms - before.cpu_ms) / units, 3),
        "commits": round(max(commits, 0.0) / units, 3),
        "redis_commands": round(max(commands, 0.0) / units, 3),
        "bytes_out": round(tally.bytes_out / units),
        "bytes_in": round(tally.bytes_in / units),
        **quantiles(tally.latencies_ms),
        "failures": tally.failures,
        "first_failure": tally.first_failure,
    }


def quantiles(latencies_ms: list[float]) -> dict[str, float | None]:
    """p50 and p99 of each request under the load (a photo's two requests pooled)."""
    ordered = sorted(latencies_ms)
    if not ordered:
        return {"p50_ms": None, "p99_ms": None}
    p50, p99 = (ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.50, 0.99))
    return {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2)}


async def load(
    port: int, action: Callable[[], Action], connections: int, seconds: float, cap: int
) -> tuple[Tally, float]:
    """``connections`` connections each repeating its action until ``seconds`` pass or
    ``cap`` actions are done in all; a failure ends that connection."""
    tally = Tally()
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    done = itertools.count()

    async def one(act: Action) -> int:
        wire = await Wire.open(port, tally)
        count = 0
        try:
            while time.monotonic() < deadline and next(done) < cap:
                try:
                    await act(wire)
                except (RuntimeError, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                    tally.fail(f"{type(exc).__name__}: {exc}")
                    break
                count += 1
        finally:
            wire.close()
        return count

    counts = await asyncio.gather(*(one(action()) for _ in range(connections)))
    tally.units = sum(counts)
    return tally, time.monotonic() - started


async def measure(
    meter: Meter,
    name: str,
    port: int,
    actions: Callable[[], Action],
    args: argparse.Namespace,
    idle: Idle,
    cap: int | None = None,
    after_load: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """A short warm-up, then the bounded load between two readings."""
    await load(port, actions, 1, 0.5, 20)
    print(f"~ {name}: {args.seconds:.0f} s, {args.connections} connections", flush=True)
    before = await meter.read(args.settle)
    tally, load_s = await load(
        port, actions, args.connections, args.seconds, cap or args.max_requests
    )
    if after_load is not None:
        await after_load()
    after = await meter.read(args.settle)
    if tally.failures:
        raise RuntimeError(f"{name}: {tally.failures} failed: {tally.first_failure}")
    return net_figures(name, tally.units, tally, before, after, idle, load_s)


# Idle live streams


async def hold_stream(port: int, token: str, counts: dict[str, int], stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    head = (
        f"GET {LIVE_PATH} HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n"
    )
    writer.write(head.encode())
    counts["bytes_out"] += len(head)
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in raw.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"live stream: {raw[:200]!r}")
        counts["open"] += 1
        while not stop.is_set():
            with suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    data = await reader.read(65536)
                    if not data:
                        raise RuntimeError("the server ended an idle stream")
                    if counts["counting"]:
                        counts["bytes_in"] += len(data)
                        counts["heartbeats"] += data.count(b": heartbeat")
    finally:
        writer.close()


async def measure_streams(
    meter: Meter, port: int, args: argparse.Namespace, idle: Idle
) -> dict[str, Any]:
    """``--streams`` streams opened (two devices per staff member), memory read before and
    after, then held idle for a window: CPU, commits and bytes per heartbeat."""
    print(f"~ live: {args.streams} idle streams, heartbeat {HEARTBEAT_S:.0f} s", flush=True)
    tally = Tally()
    wire = await Wire.open(port, tally)
    try:
        tokens = [
            (await sign_in(wire, f"staff{n % 20 + 1}@demo.local", f"capacity-live-{n}")).token
            for n in range(args.streams)
        ]
    finally:
        wire.close()
    counts = {"open": 0, "bytes_in": 0, "bytes_out": 0, "heartbeats": 0, "counting": 0}
    stop = asyncio.Event()
    empty = await meter.read(args.settle)
    holders = [asyncio.create_task(hold_stream(port, t, counts, stop)) for t in tokens]
    try:
        await asyncio.sleep(2.0)
        if counts["open"] != args.streams:
            raise RuntimeError(f"only {counts['open']} of {args.streams} streams opened")
        held = before = await meter.read(args.settle)
        counts["counting"] = 1
        await asyncio.sleep(args.seconds * 2)
        after = await meter.read(args.settle)  # heartbeats counted over the settle too
        counts["counting"] = 0
    finally:
        stop.set()
        await asyncio.gather(*holders, return_exceptions=True)
    beats = max(counts["heartbeats"], 1)
    span = after.at - before.at
    cpu = after.cpu_ms - before.cpu_ms - idle.cpu_ms_per_s * span
    commits = after.commits - before.commits - 1 - idle.commits_per_s * span
    commands = after.redis_commands - before.redis_commands - 1 - idle.redis_per_s * span
    return {
        "name": "live_heartbeat",
        "units": beats,
        "requests": 0,
        "load_s": round(span, 2),
        "units_per_s": round(beats / span, 1),
        "cpu_ms": round(max(cpu, 0.0) / beats, 3),
        "cpu_ms_gross": round((after.cpu_ms - before.cpu_ms) / beats, 3),
        "commits": round(max(0.0, commits) / beats, 3),
        "redis_commands": round(max(0.0, commands) / beats, 3),
        "bytes_out": 0,
        "bytes_in": round(counts["bytes_in"] / beats),
        "failures": 0,
        "first_failure": None,
        "streams": args.streams,
        "rss_kb_per_stream": round((held.rss_kb - empty.rss_kb) / args.streams, 1),
        "stream_open_bytes": round(counts["bytes_out"] / args.streams),
    }


# A relay that delays PostgreSQL's packets: network latency without netem


async def relay_one(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float
) -> None:
    """Pass bytes on in order, each chunk ``delay_s`` after it arrived."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def pump() -> None:
        with suppress(OSError):
            while data := await reader.read(65536):
                queue.put_nowait((loop.time() + delay_s, data))
        queue.put_nowait((0.0, b""))

    async def deliver() -> None:
        try:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                if delay_s and (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    await asyncio.gather(pump(), deliver())


async def serve_relay(listen_port: int, target: str, target_port: int, delay_s: float) -> None:
    async def each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(target, target_port)
        await asyncio.gather(
            relay_one(reader, up_writer, delay_s), relay_one(up_reader, writer, 0.0)
        )

    server = await asyncio.start_server(each, HOST, listen_port)
    async with server:
        await server.serve_forever()


@contextmanager
def delayed_database(database_url: str, delay_ms: float) -> Iterator[str]:
    """The database's URL through a relay process of its own that holds the app's packets
    ``delay_ms`` on their way to the database."""
    url, port = urlsplit(database_url), free_port()
    proc = subprocess.Popen(
        [
            *RUN_SELF,
            "--relay",
            str(port),
            "--db-delay-ms",
            str(delay_ms),
            "--database-url",
            database_url,
        ]
    )
    try:
        for _ in range(50):
            with suppress(OSError), socket.create_connection((HOST, port), timeout=1):
                break
            time.sleep(0.1)
        yield url._replace(netloc=f"{url.username}@{HOST}:{port}").geturl()
    finally:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()


async def round_trip_ms(database_url: str, count: int = 200) -> dict[str, float | None]:
    """``SELECT 1`` on one connection, ``count`` times: the round trip the app meets."""
    conn = await asyncpg.connect(database_url)
    times = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            await conn.fetchval("SELECT 1")
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await conn.close()
    return quantiles(times)


# The run


@contextmanager
def own_redis() -> Iterator[str]:
    """A redis-server of the run's own on loopback, so its command count is ours alone."""
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://{HOST}:{port}/0"
    try:
        for _ in range(50):
            with suppress(redis.RedisError):
                if redis.Redis.from_url(url).ping():
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("redis-server did not start")
        yield url
    finally:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()


async def drain_photos(meter: Meter) -> None:
    """Wait (bounded) until every uploaded photo is processed, so their CPU is counted."""
    for _ in range(int(DRAIN_TIMEOUT_S / 0.5)):
        if not await meter.queued_photos():
            return
        await asyncio.sleep(0.5)


def photo_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in (data_dir / "photos").rglob("*") if p.is_file())


async def run_endpoints(
    port: int, pid: int, env: dict[str, str], args: argparse.Namespace, data_dir: Path
) -> dict[str, Any]:
    database = urlsplit(args.database_url).path.lstrip("/")
    meter = Meter(pid, database, env["RATE_LIMIT_URL"])
    await meter.open(args.database_url)
    tally = Tally()
    wire = await Wire.open(port, tally)
    try:
        staff = await sign_in(wire, "staff1@demo.local", "capacity-phone-1")
        writer = await sign_in(wire, "staff2@demo.local", "capacity-phone-2")
        dispatcher = await sign_in(wire, "dispatcher@demo.local", "capacity-office")
        await load_jobs(wire, staff)
        await load_jobs(wire, writer)
        first = await wire.call("GET", FEED_PATH, bearer(staff.token, **{"Accept-Encoding": "br"}))
        staff.etag = first.headers["etag"]
    finally:
        wire.close()
    if len(writer.jobs) < BATCH_SIZE:
        raise RuntimeError(f"staff2 has {len(writer.jobs)} open jobs, fewer than a batch")
    key = create_api_key(env)
    jpeg = small_jpeg()
    try:
        print(f"~ idle: {args.seconds * 2:.0f} s", flush=True)
        quiet = await meter.read(args.settle)
        await asyncio.sleep(args.seconds * 2)
        idle = idle_rates(quiet, await meter.read(args.settle))
        rows = [
            await measure(
                meter, "feed_first_page", port, lambda: feed_first_page(staff), args, idle
            ),
            await measure(meter, "feed_304", port, lambda: feed_304(staff), args, idle),
            await measure(meter, "job_detail", port, lambda: job_detail(staff), args, idle),
        ]
        # Each connection syncs its own share of staff2's jobs, so no two edit one job.
        shares = split_jobs(writer, args.connections)
        rows.append(
            await measure(
                meter, "sync_batch_10", port, lambda: sync_batch(next(shares)), args, idle
            )
        )
        # One mutation a batch, as a phone sends each step of a job when it is online.
        rows.append(
            await measure(
                meter, "sync_batch_1", port, lambda: sync_batch(next(shares), 1), args, idle
            )
        )
        rows.append(await measure(meter, "checkin", port, lambda: check_in(staff), args, idle))
        stored = photo_bytes(data_dir)

        async def drain() -> None:
            await drain_photos(meter)

        photo_row = await measure(
            meter,
            "photo_upload",
            port,
            lambda: photo_upload(staff, jpeg),
            args,
            idle,
            cap=MAX_UPLOADS,
            # with PHOTO_PROCESSING_WORKERS=0 nothing here processes them: the upload alone
            after_load=None if env.get("PHOTO_PROCESSING_WORKERS") == "0" else drain,
        )
        photo_row["stored_bytes_per_photo"] = round(
            (photo_bytes(data_dir) - stored) / photo_row["units"]
        )
        photo_row["photo_bytes"] = len(jpeg)
        rows.append(photo_row)
        dispatch_jobs = list(staff.jobs)
        rows.append(
            await measure(
                meter,
                "dispatch_edit",
                port,
                lambda: dispatch_edit(dispatcher.token, dispatch_jobs),
                args,
                idle,
            )
        )
        rows.append(
            await measure(meter, "crm_events_page", port, lambda: crm_events(key), args, idle)
        )
        if args.streams:
            rows.append(await measure_streams(meter, port, args, idle))
    finally:
        await meter.close()
    return {"idle": idle.__dict__, "endpoints": rows}


def split_jobs(staff: Staff, parts: int) -> Iterator[Staff]:
    """``parts`` phones of one staff member, each with its own share of the jobs (cycled)."""
    jobs = sorted(staff.jobs)
    per = max(BATCH_SIZE, len(jobs) // parts)
    shares = []
    for n in range(parts):
        picked = [jobs[(n * per + i) % len(jobs)] for i in range(per)]
        shares.append(
            Staff(
                staff.token, staff.device_id, {j: staff.jobs[j] for j in picked}, "", staff.rounds
            )
        )
    return itertools.cycle(shares)


# A phone's day, and fleets of it


DAY_HOURS = 8  # 07:00 to 15:00, as benchmarks/fleet_locustfile.py plays it
PEAK_TO_AVERAGE = 3.0  # the busy hour against the day's average hour: an assumption
TARGET_UTILISATION = 0.6
HEARTBEAT_DAY_S = 15.0  # LIVE_HEARTBEAT_SECONDS' default
PHONES_PER_DISPATCHER = 50  # benchmarks/fleet.py
JPEG_12MP_CPU_MS = 843.0  # bench-photos: a 12 MP JPEG's processing, median (benchmarks/README.md)
JPEG_12MP_BYTES = 4_800_000
STREAM_KB = 18.1  # bench-live: a worker's memory per idle stream at 5,000 streams
FLEETS = (1_000, 10_000, 100_000)

# What one phone sends in a day, by benchmarks/fleet_locustfile.py: the job list revalidated
# each minute (a full page after each change of its jobs, about 40, else 304), seven jobs
# each opened once and moved on by four syncs of one mutation (two carry a check-in, two
# attach a photo), two photos per job, one live stream held all day; and a dispatcher's
# action every two minutes per 50 phones.
DAY_MIX: dict[str, float] = {
    "feed_first_page": 40,
    "feed_304": DAY_HOURS * 60 - 40,
    "job_detail": 7,
    "sync_batch_1": 28,
    "checkin": 14,  # ride in the syncs: counted at the check-in's own cost, an upper bound
    "photo_upload": 14,  # two requests each
    "dispatch_edit": DAY_HOURS * 30 / PHONES_PER_DISPATCHER,
    "live_heartbeat": DAY_HOURS * 3600 / HEARTBEAT_DAY_S,
}
REQUESTS_PER_UNIT = {"photo_upload": 2, "live_heartbeat": 0, "checkin": 0}


def phone_day(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests, CPU-seconds, commits, Redis commands and bytes per phone per day."""
    by = {row["name"]: row for row in rows}
    day = {"requests": 0.0, "cpu_s": 0.0, "commits": 0.0, "redis": 0.0, "bytes": 0.0}
    for name, count in DAY_MIX.items():
        row = by[name]
        day["requests"] += count * REQUESTS_PER_UNIT.get(name, 1)
        day["cpu_s"] += count * row["cpu_ms"] / 1000
        day["commits"] += count * row["commits"]
        day["redis"] += count * row["redis_commands"]
        day["bytes"] += count * (row["bytes_out"] + row["bytes_in"])
    photo = by["photo_upload"]
    extra_12mp = DAY_MIX["photo_upload"] * (JPEG_12MP_CPU_MS - photo["cpu_ms"]) / 1000
    day["cpu_s_12mp_photos"] = day["cpu_s"] + max(extra_12mp, 0.0)
    day["bytes_12mp_photos"] = day["bytes"] + DAY_MIX["photo_upload"] * (
        JPEG_12MP_BYTES - photo["photo_bytes"]
    )
    day["stored_photo_bytes"] = DAY_MIX["photo_upload"] * photo["stored_bytes_per_photo"]
    return {k: round(v, 3) for k, v in day.items()}


def projection(
    day: dict[str, Any], idle: dict[str, Any], live: dict[str, Any], phones: int
) -> dict[str, Any]:
    """The busy hour of ``phones`` phones: cores at the target utilisation, commits/s,
    Redis commands/s, streams' memory, photo storage per day (12 MP JPEG photos)."""
    busy = phones * PEAK_TO_AVERAGE / (DAY_HOURS * 3600)  # phone-days per second, busy hour
    cores = busy * day["cpu_s"] / TARGET_UTILISATION
    cores_12mp = busy * day["cpu_s_12mp_photos"] / TARGET_UTILISATION
    return {
        "phones": phones,
        "requests_per_s": round(busy * day["requests"], 1),
        "app_cores": round(cores, 2),
        "app_cores_12mp_photos": round(cores_12mp, 2),
        "commits_per_s": round(busy * day["commits"], 1),
        "idle_commits_per_s_per_instance": idle["commits_per_s"],
        "redis_per_s": round(busy * day["redis"], 1),
        "streams": phones,
        # this run's few streams are too few to read against the worker's RSS: bench-live's
        "streams_memory_mb": round(phones * STREAM_KB / 1024, 1),
        "wire_gb_per_day_12mp": round(phones * day["bytes_12mp_photos"] / 1e9, 2),
        "photos_gb_per_day_12mp": round(
            phones * DAY_MIX["photo_upload"] * JPEG_12MP_BYTES / 1e9, 1
        ),
    }


FLEET_ENDPOINTS = {
    "GET /api/mobile/jobs": "feed_304",
    "GET /api/mobile/jobs/{id}": "job_detail",
    "POST /api/mobile/sync": "sync_batch_1",
    "PATCH /api/dispatch/jobs/{id}": "dispatch_edit",
    "POST /api/dispatch/jobs/{id}/assign": "dispatch_edit",
    "PUT /api/mobile/photos/uploads/{token}": "photo_upload",
}


def fleet_check(
    rows: list[dict[str, Any]], idle: dict[str, Any], fleet: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each fleet step's server CPU, measured, against the model: its requests as Locust
    counted them at this run's cost each (a photo at its PUT, check-ins at a sync's), plus
    the server's idle CPU and its streams' heartbeats over the step."""
    by = {row["name"]: row for row in rows}
    checks = []
    for step in fleet["steps"]:
        seconds = step["duration_s"]
        predicted_ms = idle["cpu_ms_per_s"] * seconds
        streams = 0
        for endpoint in step["endpoints"]:
            name = FLEET_ENDPOINTS.get(endpoint["endpoint"])
            if endpoint["endpoint"] == "GET /api/mobile/live-updates":
                streams = endpoint["requests"]
            if name is not None:
                predicted_ms += endpoint["requests"] * by[name]["cpu_ms"]
        beats = streams * seconds / HEARTBEAT_DAY_S
        predicted_ms += beats * by["live_heartbeat"]["cpu_ms"]
        measured_ms = step["server_cores"] * seconds * 1000
        checks.append(
            {
                "phones": step["phones"],
                "workers": fleet["settings"].get("workers"),
                "requests": sum(
                    e["requests"] for e in step["endpoints"] if not e["endpoint"].startswith("SSE")
                ),
                "measured_cpu_s": round(measured_ms / 1000, 2),
                "predicted_cpu_s": round(predicted_ms / 1000, 2),
                "predicted_over_measured": round(predicted_ms / measured_ms, 2),
            }
        )
    return checks


def print_model(model: dict[str, Any]) -> None:
    day = model["phone_day"]
    print(
        f"a phone's day: {day['requests']:.0f} requests, {day['cpu_s']:.2f} CPU-s"
        f" ({day['cpu_s_12mp_photos']:.1f} with 12 MP photos), {day['commits']:.0f} commits,"
        f" {day['redis']:.0f} Redis commands, {day['bytes'] / 1e6:.2f} MB on the wire"
    )
    print_head(
        f"{'phones':>8} {'req/s':>8} {'cores':>6} {'12MP':>6} {'commits/s':>10} {'redis/s':>8}"
        f" {'streams MB':>10} {'photos GB/d':>11}"
    )
    for p in model["projections"]:
        print(
            f"{p['phones']:>8,} {p['requests_per_s']:>8,.0f} {p['app_cores']:>6.1f}"
            f" {p['app_cores_12mp_photos']:>6.1f} {p['commits_per_s']:>10,.0f}"
            f" {p['redis_per_s']:>8,.0f} {p['streams_memory_mb']:>10,.0f}"
            f" {p['photos_gb_per_day_12mp']:>11,.0f}"
        )
    for c in model.get("fleet_check", []):
        print(
            f"fleet of {c['phones']} phones ({c['requests']:,} requests): server CPU measured"
            f" {c['measured_cpu_s']:.1f} s, predicted {c['predicted_cpu_s']:.1f} s"
            f" ({c['predicted_over_measured']:.2f}x)"
        )


def work_model(doc: dict[str, Any], fleet_json: Path | None) -> dict[str, Any]:
    rows = doc["endpoints"]
    live = next(r for r in rows if r["name"] == "live_heartbeat")
    day = phone_day(rows)
    model: dict[str, Any] = {
        "assumptions": {
            "day_hours": DAY_HOURS,
            "peak_to_average": PEAK_TO_AVERAGE,
            "target_utilisation": TARGET_UTILISATION,
            "heartbeat_s": HEARTBEAT_DAY_S,
            "day_mix": DAY_MIX,
            "jpeg_12mp_cpu_ms": JPEG_12MP_CPU_MS,
            "jpeg_12mp_bytes": JPEG_12MP_BYTES,
        },
        "phone_day": day,
        "projections": [projection(day, doc["idle"], live, n) for n in FLEETS],
    }
    if fleet_json is not None:
        model["fleet_check"] = fleet_check(rows, doc["idle"], orjson.loads(fleet_json.read_bytes()))
    return model


def print_table(doc: dict[str, Any]) -> None:
    print_head(
        f"{'endpoint':<16} {'units':>7} {'CPU ms':>8} {'commits':>8} {'redis':>6}"
        f" {'bytes out':>10} {'bytes in':>9}"
    )
    for row in doc["endpoints"]:
        print(
            f"{row['name']:<16} {row['units']:>7} {row['cpu_ms']:>8.2f} {row['commits']:>8.2f}"
            f" {row['redis_commands']:>6.2f} {row['bytes_out']:>10,} {row['bytes_in']:>9,}"
        )
    idle = doc["idle"]
    photo = next(r for r in doc["endpoints"] if r["name"] == "photo_upload")
    stored = photo.get("stored_bytes_per_photo", 0)
    print(
        f"idle: {idle['cpu_ms_per_s']:.1f} CPU ms/s, {idle['commits_per_s']:.2f} commits/s,"
        f" {idle['redis_per_s']:.2f} Redis commands/s (taken off the rows above);"
        f" a photo upload is two requests and its processing; {stored:,} bytes stored"
        f" per {photo['photo_bytes']:,}-byte photo"
    )
    print_head(f"{'endpoint':<16} {'p50 ms':>8} {'p99 ms':>8}")
    for row in doc["endpoints"]:
        if row.get("p99_ms") is not None:
            print(f"{row['name']:<16} {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f}")
    if "db_round_trip_ms" in doc:
        trip = doc["db_round_trip_ms"]
        print(
            f"PostgreSQL round trip from the app: p50 {trip['p50_ms']} ms, p99 {trip['p99_ms']} ms"
        )


def plot(doc: dict[str, Any]) -> Figure:
    fig, left, right = two_panels(14)
    rows = doc["endpoints"]
    names = [r["name"] for r in rows]
    left.barh(names, [r["cpu_ms"] for r in rows])
    left.set_xscale("log")
    left.set_xlabel("server CPU ms per request, log (photo: per upload, live: per heartbeat)")
    left.invert_yaxis()
    right.barh(names, [r["bytes_out"] + r["bytes_in"] for r in rows], label="bytes on the wire")
    right.set_xscale("log")
    right.set_xlabel("bytes per request, both ways (log)")
    right.invert_yaxis()
    for n, r in enumerate(rows):
        right.annotate(
            f"{r['commits']:.1f} transactions", (r["bytes_out"] + r["bytes_in"], n), fontsize=8
        )
    return titled(fig, "capacity: what one request costs (WORKERS=1, PostgreSQL, Redis)")


def main() -> None:
    args = parse_args()
    if args.report is not None:
        doc = orjson.loads(args.report.read_bytes())
        print_table(doc)
        print_model(work_model(doc, args.fleet_json))
        return
    if args.relay is not None:
        url = urlsplit(args.database_url)
        delay_s = (args.db_delay_ms or 0.0) / 1000
        asyncio.run(serve_relay(args.relay, url.hostname or HOST, url.port or 5432, delay_s))
        return
    prepare_out(args)
    port = free_port()
    with (
        failures_end_run(asyncpg.PostgresError, redis.RedisError),
        own_redis() as redis_url,
        tempfile.TemporaryDirectory(prefix="capacity-") as tmp,
        ExitStack() as stack,
    ):
        app_database = args.database_url
        if args.db_delay_ms is not None:
            app_database = stack.enter_context(
                delayed_database(args.database_url, args.db_delay_ms)
            )
        data_dir = Path(tmp)
        env = {
            **server_env(app_database, port, workers=1),
            "DATA_DIR": str(data_dir),
            "CACHE_URL": redis_url,
            "RATE_LIMIT_URL": redis_url,
            "LIVE_HEARTBEAT_SECONDS": str(HEARTBEAT_S),
            "ACCESS_TOKEN_SECONDS": "3600",
        }
        seed_fresh_database(args.database_url, {**env, "DATABASE_URL": args.database_url})
        with serving(env, port, args.out / "capacity-server.log") as server:
            figures = asyncio.run(run_endpoints(port, server.pid, env, args, data_dir))
            figures["db_round_trip_ms"] = asyncio.run(round_trip_ms(app_database))
    settings = {
        "seconds": args.seconds,
        "connections": args.connections,
        "max_requests": args.max_requests,
        "streams": args.streams,
        "settle": args.settle,
        "workers": 1,
        "batch_size": BATCH_SIZE,
        "heartbeat_s": HEARTBEAT_S,
        "database": "postgresql",
        "db_delay_ms_per_round_trip": args.db_delay_ms,
    }
    doc = results_doc(settings, **figures)
    print_table(doc)
    if args.streams:
        doc["model"] = work_model(doc, args.fleet_json)
        print_model(doc["model"])
    name = "capacity" if args.db_delay_ms is None else f"capacity-db-delay-{args.db_delay_ms:g}ms"
    keep_results(args.out, name, doc, lambda: plot(doc))


if __name__ == "__main__":
    main()
