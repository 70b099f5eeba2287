"""Live-updates benchmark: thousands of held SSE streams, the fan-out latency of a team-wide and
of a branch-wide update, and each worker's resident memory per idle stream.

PostgreSQL, loopback only. Three layouts, each measured in the same run:

- **baseline** (``--baseline-tree DIR``, optional): the server of another checkout (say the
  commit before a change, from ``git worktree add``) with one worker, at the largest size;
- **one worker**: this checkout's server (WORKERS=1), the streams grown in steps (500, 2,000,
  5,000 by default), keeping those already open;
- **two workers** (``--pair-size``, 10,000 by default): a second instance on the same database
  (WORKERS=1 each, as the cluster runs them), half the streams on each; the updates are sent
  to the first, so the second hears them through the change log's NOTIFY.

Every stream is one that both measured updates reach: 80 % a dispatcher of the branch, 10 %
the admin, 10 % one staff member of a team of that branch, whose job is the one edited. The
dispatchers are the demo's and copies of it (same branch, same password), because a person
may hold only so many streams per worker (``LIVE_STREAMS_PER_USER``, 1,000 at most); each
account holds at most 500 streams per worker, 100 per signed-in device. At each step: each
worker's RSS once the streams are open and idle, then a few team updates (POST
/api/dispatch/team-updates) and a few job edits (PATCH /api/dispatch/jobs/{id}, notes), one at
a time. A stream's fan-out latency is the time from just before the request is sent to the
moment its event's bytes come in. The streams are held by ``--clients`` processes
(``benchmarks/live_load.py``), whose CPU per update is reported: on this 2-core machine it is
taken from the same cores as the workers and PostgreSQL.

Run from the repository root:
    .venv/bin/python -m benchmarks.live --sizes 500 2000 5000 --pair-size 10000
"""

import argparse
import asyncio
import math
import os
import resource
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any, cast

import asyncpg
import orjson
import uvloop
from matplotlib.figure import Figure

from benchmarks.harness import (
    HOST,
    REPO_ROOT,
    SERVER_COMMAND,
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
    seed_fresh_database,
    server_env,
    sign_in,
    stop,
    titled,
    two_panels,
    wait_ready,
)
from benchmarks.live_load import Board, ClientPool, open_streams, stream_request, until

LIVE_PATH = "/api/mobile/live-updates"
TEAM_UPDATES_PATH = "/api/dispatch/team-updates"
JOB_PATH = "/api/dispatch/jobs/{}"
DISPATCHER = "dispatcher@demo.local"
ADMIN = "admin@demo.local"
ROLES = ("dispatcher", "admin", "staff")
# Per ten streams: eight a dispatcher's, one the admin's, one the staff member's.
ROLE_CYCLE = ("dispatcher",) * 8 + ("admin", "staff")
STREAMS_PER_ACCOUNT = 500  # per worker
STREAMS_PER_DEVICE = 100  # per worker; also LIVE_STREAMS_PER_DEVICE
STREAMS_PER_USER_CAP = 1000  # LIVE_STREAMS_PER_USER: room for the 500
MAX_PER_WORKER = 5000  # the one staff member's 10 % stays within one account's 500
TOKEN_SECONDS = 3600
WARMUP_STREAMS = 20
DELIVERY_TIMEOUT_S = 15.0
GAUGE_TIMEOUT_S = 20.0
SETTLE_S = 3.0
P99_GOAL_MS = 250.0
KB_GOAL = 16.0
GOAL_SIZE = 5000
PAIR_GOAL_SIZE = 10000

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
COPY_ACCOUNT = """
INSERT INTO app_user (email, name, role, team, branch, locale, password_hash, phone)
SELECT $2, name || ' ' || $3, role, team, branch, locale, password_hash, phone
FROM app_user WHERE email = $1
ON CONFLICT (email) DO NOTHING
"""


@dataclass(frozen=True)
class Audience:
    """Who the streams are and what the updates touch: per role, its accounts' devices'
    tokens (each a sign-in: a hashed password)."""

    tokens: dict[str, list[list[str]]]
    sender: str
    team_id: str
    staff_email: str
    job_id: str

    def token(self, role: str, k: int) -> str:
        """The token of the ``k``-th stream of ``role`` on one worker."""
        account = self.tokens[role][k // STREAMS_PER_ACCOUNT]
        return account[(k % STREAMS_PER_ACCOUNT) // STREAMS_PER_DEVICE]


@dataclass
class Instance:
    """One server (one worker), the streams it holds, and its figures."""

    name: str
    port: int
    process: Popen[bytes]
    log: Path
    control: Connection | None = None
    worker: int = 0
    idle_kb: int = 0
    held: int = 0
    roles: Counter[str] = field(default_factory=Counter)


@dataclass
class Bench:
    """The run's state: the servers, the client processes and a database connection."""

    pool: ClientPool
    db: asyncpg.Connection
    audience: Audience
    args: argparse.Namespace
    sender: Instance | None = None
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
        "--sizes", type=int, nargs="+", default=[500, 2000, 5000], help="streams on one worker"
    )
    parser.add_argument(
        "--pair-size", type=int, default=10000, help="streams across two workers (0: skip)"
    )
    parser.add_argument(
        "--baseline-tree", type=Path, help="a checkout whose server is measured first"
    )
    parser.add_argument("--updates", type=int, default=5, help="updates per scenario and size")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between updates")
    parser.add_argument("--batch", type=int, default=200, help="streams opened at a time")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    add_run_options(parser, "tinedy_live_bench")
    args = parser.parse_args()
    if min(args.sizes) < 1 or args.updates < 1 or args.batch < 1 or args.interval < 0:
        parser.error("--sizes, --updates and --batch must be positive, --interval not negative")
    args.sizes = sorted(set(args.sizes))
    if max(args.sizes) > MAX_PER_WORKER or args.pair_size > 2 * MAX_PER_WORKER:
        parser.error(f"at most {MAX_PER_WORKER} streams per worker")
    if args.clients < 1 or args.pair_size < 0:
        parser.error("--clients must be positive, --pair-size not negative")
    return args


def raise_open_files(needed: int) -> int:
    """Lift this process's open-files limit to the hard limit; the servers and client
    processes, started after, inherit it. Fails when even the hard limit cannot hold the
    streams."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(soft, needed) if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise SystemExit(f"open-files hard limit {hard} < {needed}: raise it (ulimit -Hn)")
    return target


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# The server processes and their workers, read from /proc.


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


def start_instance(
    name: str, env: Mapping[str, str], out: Path, tree: Path | None = None
) -> Instance:
    """``python -m server run`` (of ``tree``, or this checkout) on a port of its own."""
    port = free_port()
    log = out / f"live-server-{name}.log"
    command = SERVER_COMMAND
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=tree or REPO_ROOT,
            env={**env, "PORT": str(port)},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(process, port, "/readyz", log)
    except BaseException:
        stop(process)
        raise
    return Instance(name, port, process, log)


# Setting up: accounts, streams, the server's own count of them.


def accounts_needed(per_worker: int) -> dict[str, int]:
    """How many accounts of each role hold ``per_worker`` streams on one worker."""
    share = Counter(ROLE_CYCLE[i % len(ROLE_CYCLE)] for i in range(per_worker))
    return {role: max(1, math.ceil(share[role] / STREAMS_PER_ACCOUNT)) for role in ROLES}


async def load_audience(port: int, db: asyncpg.Connection, per_worker: int) -> Audience:
    """The dispatcher's branch, a team of it, one of its staff and a job of theirs; copies
    of the dispatcher and the admin as needed, then a sign-in per device."""
    row = await db.fetchrow(SCOPE, DISPATCHER)
    if row is None:
        raise RuntimeError("the demo has no staff with a job in a team of the dispatcher's branch")
    originals = {"dispatcher": DISPATCHER, "admin": ADMIN, "staff": str(row["staff_email"])}
    devices = min(
        math.ceil(min(per_worker, STREAMS_PER_ACCOUNT) / STREAMS_PER_DEVICE),
        STREAMS_PER_ACCOUNT // STREAMS_PER_DEVICE,
    )
    emails: dict[str, list[str]] = {}
    for role, count in accounts_needed(per_worker).items():
        emails[role] = [originals[role]]
        for n in range(1, count):
            if role == "staff":
                raise RuntimeError("the staff member's streams need more than one account")
            copy = originals[role].replace("@", f"+live{n}@")
            await db.execute(COPY_ACCOUNT, originals[role], copy, f"(copy {n})")
            emails[role].append(copy)
    conn = await Connection.open(port)
    try:
        tokens = {
            role: [
                [
                    (await sign_in(conn, email, f"live-bench-{role}-{a}-{d}")).token
                    for d in range(devices)
                ]
                for a, email in enumerate(accounts)
            ]
            for role, accounts in emails.items()
        }
        sender = (await sign_in(conn, DISPATCHER, "live-bench-sender")).token
    finally:
        conn.close()
    return Audience(tokens, sender, str(row["team"]), originals["staff"], str(row["job"]))


async def worker_metrics(instance: Instance, prefix: str) -> dict[str, float]:
    """The worker's /metrics samples whose line starts with ``prefix``, by name and labels."""
    assert instance.control is not None
    status, body = await instance.control.send("GET", "/metrics", None)
    if status != 200:
        raise RuntimeError(f"/metrics: {status}")
    lines = body.decode().splitlines()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith(prefix)
    }


async def live_streams_gauge(instance: Instance) -> float | None:
    """The worker's own count of open streams."""
    return (await worker_metrics(instance, "tinedy_live_streams ")).get("tinedy_live_streams")


async def full_gcs(instance: Instance) -> float:
    """The worker's full (generation 2) garbage collections so far."""
    counts = await worker_metrics(instance, "python_gc_collections_total")
    return sum(n for name, n in counts.items() if '"2"' in name)


async def expect_gauge(bench: Bench, instance: Instance, count: int, when: str) -> None:
    """Wait until the worker counts ``count`` streams (every one subscribed to the hub, or
    every closed one forgotten); a count that never comes is a problem to report."""
    deadline = time.perf_counter() + GAUGE_TIMEOUT_S
    gauge = await live_streams_gauge(instance)
    while gauge != count and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
        gauge = await live_streams_gauge(instance)
    if gauge != count:
        bench.problems.append(
            f"{instance.name}, {when}: the worker counts {gauge} live streams, expected {count}"
        )


# The updates, sent to the first instance of a layout.


async def send_team_update(bench: Bench, n: int) -> int:
    assert bench.sender is not None and bench.sender.control is not None
    body = orjson.dumps({"teamId": bench.audience.team_id, "message": f"live benchmark {n}"})
    status, answer = await bench.sender.control.send(
        "POST", TEAM_UPDATES_PATH, bench.audience.sender, body
    )
    if status != 202:
        raise RuntimeError(f"POST {TEAM_UPDATES_PATH}: {status} {answer[:300]!r}")
    return int(orjson.loads(answer)["eventId"])


async def edit_job(bench: Bench, n: int) -> int:
    """A notes change (a new text each time, so it always writes); its event id is the
    newest change-log row of the job."""
    assert bench.sender is not None and bench.sender.control is not None
    path = JOB_PATH.format(bench.audience.job_id)
    body = orjson.dumps({"notes": f"live benchmark {n} {time.time()}"})
    status, answer = await bench.sender.control.send("PATCH", path, bench.audience.sender, body)
    if status != 200:
        raise RuntimeError(f"PATCH {path}: {status} {answer[:300]!r}")
    event_id: int = await bench.db.fetchval(LAST_EDIT, bench.audience.job_id)
    return event_id


SCENARIOS = (
    Scenario("team-wide", "POST team-updates", "team-update", send_team_update),
    Scenario("branch-wide", "PATCH a job's notes", "job-updated", edit_job),
)


async def time_update(
    bench: Bench, instances: list[Instance], scenario: Scenario, n: int
) -> dict[str, Any]:
    """Send one update and wait until every stream has it (or the timeout): per stream, the
    time from just before sending to its event's arrival."""
    expected = sum(i.held for i in instances)
    gcs_before = [await full_gcs(i) for i in instances]
    workers_before = [cpu_ms(i.worker) for i in instances]
    sent = time.perf_counter()
    event_id = await scenario.send(bench, n)
    answered = time.perf_counter()
    arrivals, client_cpu_s = await bench.pool.collect(event_id, DELIVERY_TIMEOUT_S)
    worker_cpu = [cpu_ms(i.worker) - b for i, b in zip(instances, workers_before, strict=True)]
    gcs = [await full_gcs(i) - b for i, b in zip(instances, gcs_before, strict=True)]
    return {
        "event_id": event_id,
        "request_ms": (answered - sent) * 1000,
        "latencies_ms": sorted((at - sent) * 1000 for _, at in arrivals),
        "names": dict(Counter(name for name, _ in arrivals)),
        "expected": expected,
        "worker_cpu_ms": sum(worker_cpu),
        "worker_cpu_ms_each": worker_cpu,
        "client_cpu_ms": client_cpu_s * 1000,
        "worker_full_gcs": sum(gcs),
    }


async def run_scenario(
    bench: Bench, instances: list[Instance], scenario: Scenario
) -> list[dict[str, Any]]:
    """The updates of one scenario, one at a time, each ``--interval`` after the last."""
    updates = []
    due = time.perf_counter()
    for n in range(bench.args.updates):
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        due = time.perf_counter() + bench.args.interval
        updates.append(await time_update(bench, instances, scenario, n))
    return updates


def summarise(scenario: Scenario, size: int, updates: list[dict[str, Any]]) -> dict[str, Any]:
    """Fan-out latency over every (stream, update) pair, and what did not arrive."""
    latencies = sorted(ms for u in updates for ms in u["latencies_ms"])
    names: Counter[str] = Counter()
    for u in updates:
        names.update(u["names"])
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "connections": size,
        "updates": len(updates),
        "delivered": len(latencies),
        "expected": sum(u["expected"] for u in updates),
        "p50_ms": percentile(latencies, 50) if latencies else None,
        "p99_ms": percentile(latencies, 99) if latencies else None,
        "max_ms": latencies[-1] if latencies else None,
        "request_ms_mean": sum(u["request_ms"] for u in updates) / len(updates),
        "worker_cpu_ms_mean": sum(u["worker_cpu_ms"] for u in updates) / len(updates),
        "client_cpu_ms_mean": sum(u["client_cpu_ms"] for u in updates) / len(updates),
        "worker_full_gcs": sum(u["worker_full_gcs"] for u in updates),
        "event_names": dict(names),
        "unexpected_names": {k: v for k, v in names.items() if k != scenario.event},
        "per_update": [
            {k: v for k, v in u.items() if k != "latencies_ms"}
            | {
                "first_ms": u["latencies_ms"][0] if u["latencies_ms"] else None,
                "last_ms": u["latencies_ms"][-1] if u["latencies_ms"] else None,
            }
            for u in updates
        ],
    }


# The run: warm each worker up and find it, then grow the streams and measure.


async def warm_up(bench: Bench, instance: Instance) -> None:
    """A few streams of the main process and one update of each kind, so the code paths are
    loaded before the idle figure; they also show which process is the worker."""
    instance.control = await Connection.open(instance.port)
    board = Board()
    token = bench.audience.token("dispatcher", 0)
    targets = [(instance.port, stream_request(HOST, LIVE_PATH, token))] * WARMUP_STREAMS
    streams = await open_streams(board, HOST, targets, WARMUP_STREAMS)
    transport = streams[0].transport
    client_port = cast(tuple[str, int], transport.get_extra_info("sockname"))[1] if transport else 0
    inode = server_socket_inode(instance.port, client_port)
    instance.worker = holder_of(inode, descendants(instance.process.pid))
    await expect_gauge(bench, instance, WARMUP_STREAMS, "warm-up")
    sender, bench.sender = bench.sender, instance
    for scenario in SCENARIOS:
        event_id = await scenario.send(bench, -1)

        def heard(event_id: int = event_id) -> bool:
            for stream in streams:
                stream.parse()
            return all(event_id in s.arrivals for s in streams)

        if not await until(heard, DELIVERY_TIMEOUT_S):
            bench.problems.append(f"{instance.name}: a warm-up {scenario.name} update was lost")
    bench.sender = sender or instance
    for stream in streams:
        stream.close()
    await expect_gauge(bench, instance, 0, "after closing the warm-up streams")
    await asyncio.sleep(SETTLE_S)
    instance.idle_kb = rss_kb(instance.worker)
    print(f"~ {instance.name}: worker {instance.worker}, {instance.idle_kb / 1024:.1f} MiB idle")


async def grow(bench: Bench, instance: Instance, size: int) -> None:
    """Open streams on ``instance`` until it holds ``size``; roles follow ROLE_CYCLE by
    position on the worker, so every size has the same mix."""
    targets = []
    for position in range(instance.held, size):
        role = ROLE_CYCLE[position % len(ROLE_CYCLE)]
        token = bench.audience.token(role, instance.roles[role])
        instance.roles[role] += 1
        targets.append((instance.port, stream_request(HOST, LIVE_PATH, token)))
    await bench.pool.open(targets, bench.args.batch)
    instance.held = size


async def measure(
    bench: Bench, layout: str, instances: list[Instance], each: int
) -> dict[str, Any]:
    """Grow every instance to ``each`` streams, read the idle RSS, then time both kinds of
    update."""
    started = time.perf_counter()
    for instance in instances:
        await grow(bench, instance, each)
    ramp_s = time.perf_counter() - started
    for instance in instances:
        await expect_gauge(bench, instance, each, f"{each} streams open")
    await asyncio.sleep(SETTLE_S)
    held_kb = [rss_kb(i.worker) for i in instances]
    size = each * len(instances)
    kb = sum(h - i.idle_kb for h, i in zip(held_kb, instances, strict=True)) / size
    print(f"~ {layout}: {size} streams held; {kb:.1f} KB per idle stream", flush=True)
    scenarios = []
    for scenario in SCENARIOS:
        updates = await run_scenario(bench, instances, scenario)
        scenarios.append(summarise(scenario, size, updates))
    return {
        "layout": layout,
        "workers": len(instances),
        "connections": size,
        "ramp_s": ramp_s,
        "rss_idle_kb": [i.idle_kb for i in instances],
        "rss_held_kb": held_kb,
        "rss_after_updates_kb": [rss_kb(i.worker) for i in instances],
        "kb_per_connection": kb,
        "scenarios": scenarios,
    }


async def hang_up(bench: Bench, instances: list[Instance]) -> dict[str, Any]:
    """Close every stream; each worker must forget its own."""
    seen = await bench.pool.close()
    for instance in instances:
        instance.held = 0
        instance.roles.clear()
        await expect_gauge(bench, instance, 0, "after closing every stream")
    return seen


async def close_controls(instances: list[Instance]) -> None:
    for instance in instances:
        if instance.control is not None:
            instance.control.close()


def base_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        **server_env(args.database_url, 0, 1),
        "ACCESS_TOKEN_SECONDS": str(TOKEN_SECONDS),
        "SECRET_KEY": secrets.token_urlsafe(48),  # the same for every server: one sign-in
        "LIVE_STREAMS_PER_DEVICE": str(STREAMS_PER_DEVICE),
        "LIVE_STREAMS_PER_USER": str(STREAMS_PER_USER_CAP),
    }


async def drive(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """Everything, server by server: the baseline's, then this checkout's one worker, then
    a second instance beside it."""
    per_worker = max([*args.sizes, math.ceil(args.pair_size / 2)])
    db = await asyncpg.connect(args.database_url)
    pool = ClientPool(args.clients, HOST, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    running: list[Instance] = []
    run: dict[str, Any] = {"baseline": None, "one_worker": [], "two_workers": None}
    try:
        first = start_instance("first", env, args.out)
        running.append(first)
        audience = await load_audience(first.port, db, per_worker)
        bench = Bench(pool, db, audience, args)
        if args.baseline_tree is not None:
            run["baseline"] = await measure_baseline(bench, env, first)
        await warm_up(bench, first)
        bench.sender = first
        for size in args.sizes:
            run["one_worker"].append(await measure(bench, "one worker", [first], size))
        if args.pair_size:
            second = start_instance("second", env | NO_BACKGROUND, args.out)
            running.append(second)
            await warm_up(bench, second)
            bench.sender = first
            each = args.pair_size // 2
            run["two_workers"] = await measure(bench, "two workers", [first, second], each)
        run["clients_saw"] = await hang_up(bench, running)
        run["problems"] = bench.problems
        return run
    finally:
        await close_controls(running)
        with suppress(Exception):
            await pool.quit()
        for instance in running:
            stop(instance.process)
        await db.close()


NO_BACKGROUND = {"PHOTO_PROCESSING_WORKERS": "0", "PUSH_SENDERS": "0", "WEBHOOK_SENDERS": "0"}


async def measure_baseline(bench: Bench, env: dict[str, str], first: Instance) -> dict[str, Any]:
    """The other checkout's server at the largest one-worker size (this checkout's first
    instance idles beside it, holding no stream)."""
    tree = bench.args.baseline_tree.resolve()
    baseline = start_instance("baseline", env | NO_BACKGROUND, bench.args.out, tree)
    try:
        await warm_up(bench, baseline)
        bench.sender = baseline
        result = await measure(bench, "baseline", [baseline], max(bench.args.sizes))
        result["tree"] = str(tree)
        await hang_up(bench, [baseline])
        return result
    finally:
        await close_controls([baseline])
        stop(baseline.process)


def server_log_errors(log_path: Path) -> list[str]:
    """Lines of a server log that say something went wrong while it served (first few); a
    race in Sanic's own manager as it is stopped is not the benchmark's."""
    marks = ("Traceback", "ERROR", "Exception", "CRITICAL")
    text = log_path.read_text(errors="replace").split("Received signal SIGTERM", 1)[0]
    return [line for line in text.splitlines() if any(mark in line for mark in marks)][:20]


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Seed the database, raise the open-files limit, then drive every layout."""
    limit = raise_open_files(max([*args.sizes, args.pair_size]) + 2048)
    env = base_env(args)
    seed_fresh_database(args.database_url, env)
    run = uvloop.run(drive(args, env))
    run["open_files_limit"] = limit
    logs = sorted(args.out.glob("live-server-*.log"))
    run["server_log_errors"] = [line for log in logs for line in server_log_errors(log)]
    return run


def layouts(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Every measured layout and size, in the order measured."""
    found: list[dict[str, Any]] = [run["baseline"]] if run["baseline"] else []
    found += run["one_worker"]
    return found + ([run["two_workers"]] if run["two_workers"] else [])


def judged(result: dict[str, Any] | None, goal_size: int) -> dict[str, Any] | None:
    if result is None:
        return None
    p99s = {s["scenario"]: s["p99_ms"] for s in result["scenarios"]}
    delivered = all(s["delivered"] == s["expected"] for s in result["scenarios"])
    return {
        "connections": result["connections"],
        "goal_connections": goal_size,
        "p99_ms": p99s,
        "p99_met": delivered and all(p is not None and p < P99_GOAL_MS for p in p99s.values()),
        "all_delivered": delivered,
        "kb_per_connection": result["kb_per_connection"],
        "kb_met": result["kb_per_connection"] < KB_GOAL,
    }


def verdict(run: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals: at the largest one-worker size (set for 5,000) and across two
    workers (set for 10,000), with the baseline's figures beside them."""
    return {
        "p99_goal_ms": P99_GOAL_MS,
        "kb_goal": KB_GOAL,
        "one_worker": judged(run["one_worker"][-1] if run["one_worker"] else None, GOAL_SIZE),
        "two_workers": judged(run["two_workers"], PAIR_GOAL_SIZE),
        "baseline": judged(run["baseline"], GOAL_SIZE),
    }


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_table(run: dict[str, Any], goals: dict[str, Any]) -> None:
    """Human-readable summary on stdout."""
    head = (
        f"{'layout':<12}{'streams':>8}  {'scenario':<12}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
        f"{'delivered':>14}{'req ms':>8}{'srv cpu':>8}{'cli cpu':>8}{'KB/stream':>10}"
    )
    print_head(head)
    for result in layouts(run):
        for s in result["scenarios"]:
            print(
                f"{result['layout']:<12}{result['connections']:>8}  {s['scenario']:<12}"
                f"{fmt_ms(s['p50_ms']):>8}{fmt_ms(s['p99_ms']):>8}{fmt_ms(s['max_ms']):>8}"
                f"{s['delivered']:>7}/{s['expected']:<6}{s['request_ms_mean']:>8.1f}"
                f"{s['worker_cpu_ms_mean']:>8.0f}{s['client_cpu_ms_mean']:>8.0f}"
                f"{result['kb_per_connection']:>10.1f}"
            )
    for name in ("baseline", "one_worker", "two_workers"):
        if goals[name] is not None:
            print_verdict(name.replace("_", " "), goals[name])
    for problem in run["problems"]:
        print(f"PROBLEM: {problem}")
    for line in run["server_log_errors"]:
        print(f"server log: {line}")


def print_verdict(name: str, goal: dict[str, Any]) -> None:
    met = {True: "met", False: "NOT met"}
    p99s = ", ".join(f"{scenario} {fmt_ms(p)} ms" for scenario, p in goal["p99_ms"].items())
    scope = (
        ""
        if goal["connections"] == goal["goal_connections"]
        else (f" (goal set for {goal['goal_connections']})")
    )
    print(
        f"{name}, {goal['connections']} streams{scope}: p99 {p99s} (goal < {P99_GOAL_MS:.0f} ms,"
        f" every stream reached: {met[goal['p99_met']]}); {goal['kb_per_connection']:.1f} KB"
        f" per idle stream (goal < {KB_GOAL:.0f} KB: {met[goal['kb_met']]})"
    )


def scenario_of(result: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in result["scenarios"] if s["scenario"] == name)
    return found


def plot(run: dict[str, Any], title: str) -> Figure:
    """p50/p99 fan-out latency and KB per idle stream against the number of streams: one
    worker as lines, two workers and the baseline as points."""
    fig, left, right = two_panels()
    one = run["one_worker"]
    sizes = [r["connections"] for r in one]
    for n, scenario in enumerate(SCENARIOS):
        rows = [scenario_of(r, scenario.name) for r in one]
        color = f"C{n}"
        left.plot(
            sizes, [r["p99_ms"] for r in rows], "o-", color=color, label=f"{scenario.name} p99"
        )
        left.plot(
            sizes, [r["p50_ms"] for r in rows], "o:", color=color, label=f"{scenario.name} p50"
        )
        for other, marker in (("two_workers", "s"), ("baseline", "x")):
            if run[other]:
                point = scenario_of(run[other], scenario.name)
                left.plot(
                    [run[other]["connections"]],
                    [point["p99_ms"]],
                    marker,
                    color=color,
                    markersize=9,
                    label=f"{scenario.name} p99, {other.replace('_', ' ')}",
                )
    left.axhline(P99_GOAL_MS, color="tab:red", linestyle="--", label="p99 goal")
    left.set_xlabel("streams held")
    left.set_ylabel("fan-out latency, ms")
    left.set_title("send to arrival, every stream")
    left.legend(fontsize="small")
    right.plot(sizes, [r["kb_per_connection"] for r in one], "o-", label="one worker")
    for other, marker in (("two_workers", "s"), ("baseline", "x")):
        if run[other]:
            right.plot(
                [run[other]["connections"]],
                [run[other]["kb_per_connection"]],
                marker,
                markersize=9,
                label=other.replace("_", " "),
            )
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
        "pair_size": args.pair_size,
        "baseline_tree": str(args.baseline_tree) if args.baseline_tree else None,
        "updates": args.updates,
        "interval_s": args.interval,
        "batch": args.batch,
        "clients": args.clients,
        "role_cycle": list(ROLE_CYCLE),
        "streams_per_account": STREAMS_PER_ACCOUNT,
        "streams_per_device": STREAMS_PER_DEVICE,
        "heartbeat_s": float(os.environ.get("LIVE_HEARTBEAT_SECONDS", "15")),
    }
    doc = results_doc(settings, **run, verdict=goals)
    title = f"live updates {doc['timestamp']}: {args.updates} updates per scenario and size"
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
