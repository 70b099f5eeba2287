"""Load benchmark of offline sync (POST /api/mobile/sync), measured against a same-run SQL floor.

Simulated phones, one keep-alive connection each, send batches of notes changes
concurrently, back to back (saturation: throughput, and latency that is mostly queueing);
then the same phones send at a steady rate of half that throughput, each on its own
schedule, as a fleet does (paced: the latency a phone sees under load); then one
100-mutation batch is timed alone, on an idle server. The
floor writes the same rows (receipt, job, change log, feed versions) by plain SQL,
one transaction per batch, with as many connections, on the same database in the
same run. The machine is shared and noisy, so the server's batches/s are quoted
as a ratio to that floor.

Run from the repository root:
    .venv/bin/python -m benchmarks.sync --duration 10
"""

import argparse
import asyncio
import hashlib
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import asyncpg
import orjson
from matplotlib.figure import Figure

from benchmarks.harness import (
    Connection,
    Failures,
    Phone,
    add_run_options,
    expect_json,
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

SYNC_PATH = "/api/mobile/sync"
JOBS_PATH = "/api/mobile/jobs?limit=200"
STAFF = 20
ALONE_SIZE = 100
ALONE_REPEATS = 10
MAX_PAGES = 20
REQUEST_TIMEOUT_S = 30.0
PHASE_GRACE_S = 60.0
MAX_BATCHES_PER_CONNECTION = 1_000_000
MAX_ERRORS = 200
RATIO_GOAL = 0.9  # writers commit side by side: near the plain-SQL floor
P99_TARGET_MS = 200.0
BANGKOK = timezone(timedelta(hours=7))

UPDATE_JOB = """
UPDATE job SET notes = $1, version = version + 1, updated_at = now()
WHERE id = $2 RETURNING version, branch, assignee
"""
INSERT_CHANGE = """
INSERT INTO change_log
    (occurred_at, kind, job_id, branch_id, assignee_id, actor_id, device_id, payload)
VALUES (now(), 'job.updated', $1, $2, $3, $4, $5, $6) RETURNING id
"""
INSERT_RECEIPT = """
INSERT INTO mutation_receipt
    (user_id, device_id, mutation_id, kind, job_id, body_hash, outcome, reason, result,
     change_id, client_time, received_at)
VALUES ($1, $2, $3, 'update', $4, $5, 'applied', '', $6, $7, $8, now())
"""
UPSERT_VERSIONS = """
INSERT INTO feed_version (scope, version) SELECT unnest($1::text[]), $2::bigint
ON CONFLICT (scope) DO UPDATE SET version = EXCLUDED.version
"""
RECEIPT_OUTCOMES = "SELECT outcome, count(*) AS n FROM mutation_receipt GROUP BY outcome"


@dataclass
class Sample(Failures):
    """What one phase measured: per-batch latency of every OK batch, and the failures."""

    latencies_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class ServerRun:
    """The HTTP phases: the phones (the floor reuses their users, devices and jobs),
    the concurrent load and the big batches timed alone."""

    phones: list[Phone]
    load: Sample
    paced: Sample
    paced_rate: float
    alone: Sample


def parse_args() -> argparse.Namespace:
    """Read the run settings; defaults match the issue (64 connections, 20-mutation batches)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured phase")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per phase")
    parser.add_argument("--connections", type=int, default=64, help="phones (and SQL sessions)")
    parser.add_argument("--batch-size", type=int, default=20, help="mutations per batch")
    parser.add_argument("--workers", type=int, default=1, help="Sanic workers")
    parser.add_argument(
        "--paced-fraction",
        type=float,
        default=0.5,
        help="the paced phase's rate, as a fraction of the saturation phase's batches/s",
    )
    add_run_options(parser, "tinedy_sync_bench")
    args = parser.parse_args()
    if args.duration < 1 or args.warmup < 0 or args.connections < 1 or args.batch_size < 1:
        parser.error("--duration, --connections and --batch-size must be positive")
    if not 0 < args.paced_fraction <= 1:
        parser.error("--paced-fraction must be in (0, 1]")
    return args


def bangkok_now() -> str:
    """RFC 3339 with an offset, as the phones send it."""
    return datetime.now(BANGKOK).isoformat(timespec="milliseconds")


async def job_versions(conn: Connection, token: str) -> dict[str, int]:
    """Every job in the caller's feed with the version it has now, page after page."""
    versions: dict[str, int] = {}
    path = JOBS_PATH
    for _ in range(MAX_PAGES):
        status, body = await conn.send("GET", path, token)
        page = expect_json(f"GET {path}", status, body)
        versions.update({job["id"]: int(job["version"]) for job in page["jobs"]})
        if not page.get("hasMore") or not page.get("nextCursor"):
            break
        path = f"{JOBS_PATH}&cursor={quote(page['nextCursor'], safe='')}"
    return versions


def share_jobs(phones: list[Phone], versions: dict[str, int], batch_size: int) -> None:
    """Split one staff member's jobs between their phones: no two phones edit one job, so
    no batch conflicts and no two floor transactions deadlock."""
    jobs = sorted(versions)
    for rank, phone in enumerate(phones):
        phone.versions = {job: versions[job] for job in jobs[rank :: len(phones)]}
        if len(phone.versions) < batch_size:
            raise RuntimeError(
                f"{phone.client_id} has {len(phone.versions)} jobs, fewer than a batch of"
                f" {batch_size}: lower --connections or --batch-size"
            )


def only_one_feed_each(feeds: list[dict[str, int]]) -> list[dict[str, int]]:
    """A crew's job is in each member's feed: give each job to one of them (the one with
    fewest so far), so no two phones edit one job."""
    kept: list[dict[str, int]] = [{} for _ in feeds]
    for job in sorted({job for feed in feeds for job in feed}):
        seen_by = [n for n, feed in enumerate(feeds) if job in feed]
        n = min(seen_by, key=lambda k: (len(kept[k]), k))
        kept[n][job] = feeds[n][job]
    return kept


async def set_up_phones(port: int, connections: int, batch_size: int) -> list[Phone]:
    """Sign in every phone (several per staff member), then hand out their jobs."""
    conn = await Connection.open(port)
    try:
        phones = [
            await sign_in(conn, f"staff{i % STAFF + 1}@demo.local", f"bench-phone-{i + 1}")
            for i in range(connections)
        ]
        teams = [phones[staff::STAFF] for staff in range(min(STAFF, connections))]
        feeds = [await job_versions(conn, own[0].token) for own in teams]
        for own, versions in zip(teams, only_one_feed_each(feeds), strict=True):
            share_jobs(own, versions, batch_size)
    finally:
        conn.close()
    print(f"~ {len(phones)} phones signed in over {min(STAFF, connections)} staff", flush=True)
    return phones


def next_jobs(phone: Phone, count: int) -> list[str]:
    """The phone's next ``count`` jobs in turn: distinct within a batch while it has enough."""
    jobs = list(phone.versions)
    picked = [jobs[(phone.next_job + i) % len(jobs)] for i in range(count)]
    phone.next_job = (phone.next_job + count) % len(jobs)
    return picked


def build_mutations(phone: Phone, jobs: list[str]) -> list[dict[str, Any]]:
    """Notes changes: the server accepts them whatever the version, so none conflicts."""
    mutations = []
    for job in jobs:
        phone.notes_sent += 1
        mutations.append(
            {
                "mutationId": str(uuid.uuid4()),
                "jobId": job,
                "baseVersion": phone.versions[job],
                "clientTimestamp": bangkok_now(),
                "notes": f"bench note {phone.notes_sent}",
            }
        )
    return mutations


def batch_body(phone: Phone, mutations: list[dict[str, Any]]) -> bytes:
    """The sync request body of one batch."""
    return orjson.dumps(
        {
            "deviceId": phone.client_id,
            "deviceTime": bangkok_now(),
            "pendingUpdates": mutations,
            "photos": [],
            "checkIns": [],
        }
    )


def batch_problem(status: int, body: bytes, mutations: list[dict[str, Any]]) -> str | None:
    """None when the batch is OK: 200 and every mutation listed in ``synced``."""
    if status != 200:
        return f"status {status}"
    try:
        synced = set(orjson.loads(body).get("synced", []))
    except (orjson.JSONDecodeError, AttributeError):
        return "answer is not a JSON object"
    missing = [m["mutationId"] for m in mutations if m["mutationId"] not in synced]
    return f"{len(missing)} of {len(mutations)} mutations not synced" if missing else None


def failure_report(problem: str, request: bytes, status: int, response: bytes) -> str:
    """The exact request and answer of a failed batch, for whoever owns the endpoint."""
    return (
        f"{problem}\nrequest: POST {SYNC_PATH}\n{request.decode()}\n"
        f"response: {status}\n{response[:4000].decode(errors='replace')}"
    )


async def send_batch(
    conn: Connection, phone: Phone, mutations: list[dict[str, Any]], sample: Sample
) -> None:
    """Send one batch, time it, and on success move the phone's versions on by one."""
    body = batch_body(phone, mutations)
    started = time.perf_counter()
    async with asyncio.timeout(REQUEST_TIMEOUT_S):
        status, answer = await conn.send("POST", SYNC_PATH, phone.token, body)
    latency = time.perf_counter() - started
    problem = batch_problem(status, answer, mutations)
    if problem is not None:
        sample.fail(failure_report(problem, body, status, answer))
        return
    sample.latencies_s.append(latency)
    for mutation in mutations:
        phone.versions[mutation["jobId"]] += 1


async def phone_loop(
    port: int,
    phone: Phone,
    batch_size: int,
    deadline: float,
    sample: Sample,
    interval: float = 0.0,
    offset: float = 0.0,
) -> None:
    """One connection sending batches until the deadline: back to back, or one every
    ``interval`` seconds from ``offset`` as on a schedule (a late answer delays only this
    phone's next batch). Reconnects after a transport error; all loops stop after
    MAX_ERRORS failures rather than spin."""
    conn = await Connection.open(port)
    due = time.perf_counter() + offset
    try:
        for _ in range(MAX_BATCHES_PER_CONNECTION):
            await asyncio.sleep(max(0.0, min(due, deadline) - time.perf_counter()))
            if time.perf_counter() >= deadline or sample.failures >= MAX_ERRORS:
                break
            due += interval
            try:
                if conn.closed:
                    conn = await Connection.open(port)
                await send_batch(
                    conn, phone, build_mutations(phone, next_jobs(phone, batch_size)), sample
                )
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                sample.fail(f"{type(exc).__name__}: {exc}")
                conn.close()
    finally:
        conn.close()


def paced_loops(
    port: int, phones: list[Phone], batch_size: int, batches_per_s: float
) -> list[Callable[[float, Sample], Awaitable[None]]]:
    """Phones spread evenly over one interval, together sending ``batches_per_s``."""
    interval = len(phones) / batches_per_s

    def loop_of(n: int, phone: Phone) -> Callable[[float, Sample], Awaitable[None]]:
        offset = interval * n / len(phones)
        return lambda deadline, sample: phone_loop(
            port, phone, batch_size, deadline, sample, interval, offset
        )

    return [loop_of(n, phone) for n, phone in enumerate(phones)]


async def drive(loops: list[Callable[[float, Sample], Awaitable[None]]], seconds: int) -> Sample:
    """Run every loop concurrently for ``seconds``; throughput counts until the last ends."""
    sample = Sample()
    started = time.perf_counter()
    deadline = started + seconds
    async with asyncio.timeout(seconds + PHASE_GRACE_S):
        await asyncio.gather(*(loop(deadline, sample) for loop in loops))
    sample.elapsed_s = time.perf_counter() - started
    return sample


async def check_batch(port: int, phone: Phone, batch_size: int) -> None:
    """Send one batch first, so a broken endpoint fails the run instead of timing errors."""
    sample = Sample()
    conn = await Connection.open(port)
    try:
        await send_batch(conn, phone, build_mutations(phone, next_jobs(phone, batch_size)), sample)
    finally:
        conn.close()
    if sample.first_failure is not None:
        raise RuntimeError(f"the check batch failed: {sample.first_failure}")


async def time_alone(port: int, phone: Phone) -> Sample:
    """One big batch at a time on an idle server, each on versions read just before."""
    sample = Sample()
    conn = await Connection.open(port)
    try:
        for _ in range(ALONE_REPEATS):
            phone.versions = await job_versions(conn, phone.token)
            phone.next_job = 0
            mutations = build_mutations(phone, next_jobs(phone, ALONE_SIZE))
            started = time.perf_counter()
            await send_batch(conn, phone, mutations, sample)
            sample.elapsed_s += time.perf_counter() - started
    finally:
        conn.close()
    return sample


async def sign_in_alone(port: int) -> Phone:
    """A phone of its own for the big batch, so its versions are not the load phones'."""
    conn = await Connection.open(port)
    try:
        return await sign_in(conn, "staff1@demo.local", "bench-phone-alone")
    finally:
        conn.close()


def phone_loops(
    port: int, phones: list[Phone], batch_size: int
) -> list[Callable[[float, Sample], Awaitable[None]]]:
    """One HTTP loop per phone, waiting for its deadline and shared sample."""

    def loop_of(phone: Phone) -> Callable[[float, Sample], Awaitable[None]]:
        return lambda deadline, sample: phone_loop(port, phone, batch_size, deadline, sample)

    return [loop_of(phone) for phone in phones]


async def drive_server(port: int, args: argparse.Namespace) -> ServerRun:
    """Sign the phones in, check, warm up, measure the load, then time the big batch."""
    phones = await set_up_phones(port, args.connections, args.batch_size)
    await check_batch(port, phones[0], args.batch_size)
    loops = phone_loops(port, phones, args.batch_size)
    print(f"~ server: warm-up {args.warmup} s, measure {args.duration} s", flush=True)
    await drive(loops, args.warmup)
    load = await drive(loops, args.duration)
    rate = args.paced_fraction * len(load.latencies_s) / load.elapsed_s
    print(f"~ server: paced at {rate:.1f} batches/s for {args.duration} s", flush=True)
    paced = await drive(paced_loops(port, phones, args.batch_size, rate), args.duration)
    print(f"~ server: {ALONE_REPEATS} batches of {ALONE_SIZE}, one at a time", flush=True)
    alone = await time_alone(port, await sign_in_alone(port))
    return ServerRun(phones, load, paced, rate, alone)


def floor_loops(
    pool: asyncpg.Pool, phones: list[Phone], batch_size: int
) -> list[Callable[[float, Sample], Awaitable[None]]]:
    """One SQL loop per phone, on its own pooled session."""

    def loop_of(phone: Phone) -> Callable[[float, Sample], Awaitable[None]]:
        return lambda deadline, sample: floor_loop(pool, phone, batch_size, deadline, sample)

    return [loop_of(phone) for phone in phones]


def floor_row_args(mutation: dict[str, Any]) -> tuple[str, str, str]:
    """Per mutation: the change payload, the body hash and the notes, as the server has them."""
    body_hash = hashlib.sha256(orjson.dumps(mutation)).hexdigest()
    payload = orjson.dumps({"notes": mutation["notes"]}).decode()
    return payload, body_hash, mutation["notes"]


async def floor_mutation(
    conn: asyncpg.Connection, phone: Phone, mutation: dict[str, Any]
) -> tuple[int, str]:
    """The three rows of one mutation: job, change log, receipt. Answers (change id, branch)."""
    payload, body_hash, notes = floor_row_args(mutation)
    job = uuid.UUID(mutation["jobId"])
    row = await conn.fetchrow(UPDATE_JOB, notes, job)
    user, device = uuid.UUID(phone.user_id), uuid.UUID(phone.device_id)
    change_id: int = await conn.fetchval(
        INSERT_CHANGE, job, row["branch"], row["assignee"], user, device, payload
    )
    result = orjson.dumps({"version": row["version"]}).decode()
    client_time = datetime.fromisoformat(mutation["clientTimestamp"])
    await conn.execute(
        INSERT_RECEIPT,
        *(user, device, mutation["mutationId"], job, body_hash, result, change_id, client_time),
    )
    return change_id, str(row["branch"])


async def floor_batch(
    conn: asyncpg.Connection, phone: Phone, mutations: list[dict[str, Any]]
) -> None:
    """One transaction per batch, then the feed versions of every scope it touched."""
    async with conn.transaction():
        written = [await floor_mutation(conn, phone, m) for m in mutations]
        newest = max(change_id for change_id, _ in written)
        branches = {f"branch:{branch}" for _, branch in written}
        # Sorted, so concurrent batches lock the version rows in one order and never deadlock.
        scopes = sorted({"all", f"user:{phone.user_id}", *branches})
        await conn.execute(UPSERT_VERSIONS, scopes, newest)


async def floor_loop(
    pool: asyncpg.Pool, phone: Phone, batch_size: int, deadline: float, sample: Sample
) -> None:
    """One SQL session writing batches back to back until the deadline."""
    async with pool.acquire() as conn:
        for _ in range(MAX_BATCHES_PER_CONNECTION):
            if time.perf_counter() >= deadline or sample.failures >= MAX_ERRORS:
                break
            mutations = build_mutations(phone, next_jobs(phone, batch_size))
            started = time.perf_counter()
            try:
                await asyncio.wait_for(floor_batch(conn, phone, mutations), REQUEST_TIMEOUT_S)
            except (asyncpg.PostgresError, TimeoutError) as exc:
                sample.fail(f"{type(exc).__name__}: {exc}")
                continue
            sample.latencies_s.append(time.perf_counter() - started)


async def drive_floor(
    database_url: str, phones: list[Phone], args: argparse.Namespace
) -> tuple[Sample, dict[str, int]]:
    """Count the server's receipt outcomes, then warm up and measure the SQL floor."""
    size = len(phones)
    async with asyncpg.create_pool(database_url, min_size=size, max_size=size) as pool:
        outcomes = {r["outcome"]: int(r["n"]) for r in await pool.fetch(RECEIPT_OUTCOMES)}
        loops = floor_loops(pool, phones, args.batch_size)
        print(f"~ floor: warm-up {args.warmup} s, measure {args.duration} s", flush=True)
        await drive(loops, args.warmup)
        return await drive(loops, args.duration), outcomes


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values (for 10 values, p99 is the maximum)."""
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summarise(name: str, description: str, sample: Sample, batch_size: int) -> dict[str, Any]:
    """The figures of one phase; a phase without a single OK batch fails the run."""
    ordered = sorted(sample.latencies_s)
    if not ordered:
        raise RuntimeError(f"{name}: no batch succeeded; first failure: {sample.first_failure}")
    batches = len(ordered)
    return {
        "name": name,
        "description": description,
        "batch_size": batch_size,
        "batches": batches,
        "mutations": batches * batch_size,
        "elapsed_s": sample.elapsed_s,
        "batches_per_s": batches / sample.elapsed_s,
        "mutations_per_s": batches * batch_size / sample.elapsed_s,
        "p50_ms": percentile(ordered, 50) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": ordered[-1] * 1000,
        "errors": sample.failures,
        "first_error": sample.first_failure,
    }


def run_all(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Set up the database, drive the server and always stop it, then measure the floor."""
    port = free_port()
    env = server_env(args.database_url, port, args.workers)
    with serving_fresh(args.database_url, env, port, args.out / "sync-server.log"):
        run = asyncio.run(drive_server(port, args))
    # The server is stopped: its change-log follower would otherwise share the CPUs.
    floor, outcomes = asyncio.run(drive_floor(args.database_url, run.phones, args))
    n = args.connections
    phases = [
        summarise("server_load", f"{n} phones, POST {SYNC_PATH}", run.load, args.batch_size),
        summarise("floor_sql", f"{n} asyncpg sessions, 1 tx/batch", floor, args.batch_size),
        summarise(
            "server_paced",
            f"{n} phones on schedules, {run.paced_rate:.1f} batches/s"
            f" ({args.paced_fraction:.0%} of saturation)",
            run.paced,
            args.batch_size,
        ),
        summarise("server_alone", f"1 batch at a time, {ALONE_REPEATS}x", run.alone, ALONE_SIZE),
    ]
    return phases, outcomes


def verdict(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's two goals: batches/s against the floor (at saturation), and p99 against
    the target (paced: at saturation the p99 is the queue, whatever the server does)."""
    server, floor, paced = phases[0], phases[1], phases[2]
    ratio = server["batches_per_s"] / floor["batches_per_s"]
    return {
        "ratio_to_floor": ratio,
        "ratio_goal": RATIO_GOAL,
        "ratio_met": ratio >= RATIO_GOAL,
        "p99_ms": paced["p99_ms"],
        "p99_target_ms": P99_TARGET_MS,
        "p99_met": paced["p99_ms"] < P99_TARGET_MS,
    }


def print_table(phases: list[dict[str, Any]], goals: dict[str, Any]) -> None:
    """Human-readable summary on stdout."""
    head = (
        f"{'phase':<14}{'batch':>6}{'batches':>9}{'batch/s':>9}{'mut/s':>9}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
    )
    print_head(head)
    for p in phases:
        print(
            f"{p['name']:<14}{p['batch_size']:>6}{p['batches']:>9}{p['batches_per_s']:>9.1f}"
            f"{p['mutations_per_s']:>9.0f}{p['p50_ms']:>9.1f}{p['p99_ms']:>9.1f}"
            f"{p['max_ms']:>9.1f}{p['errors']:>8}"
        )
    met = {True: "met", False: "NOT met"}
    print(
        f"server/floor batches/s: {goals['ratio_to_floor']:.2f}"
        f" (goal >= {RATIO_GOAL}: {met[goals['ratio_met']]});"
        f" paced server p99 {goals['p99_ms']:.1f} ms (goal < {P99_TARGET_MS:.0f} ms:"
        f" {met[goals['p99_met']]})"
    )
    for p in phases:
        if p["first_error"]:
            print(f"first failure in {p['name']}:\n{p['first_error']}")


def plot(phases: list[dict[str, Any]], goals: dict[str, Any], title: str) -> Figure:
    """Batches/s of the load against the floor, and p50/p99 of every phase."""
    fig, left, right = two_panels()
    bars = left.bar(["server_load", "floor_sql"], [p["batches_per_s"] for p in phases[:2]])
    left.bar_label(bars, labels=[f"x{goals['ratio_to_floor']:.2f} of floor", "floor"])
    left.set_ylabel("batches / s")
    left.set_title(f"throughput (goal: server >= {RATIO_GOAL} x floor)")
    xs = range(len(phases))
    width = 0.4
    right.bar([x - width / 2 for x in xs], [p["p50_ms"] for p in phases], width, label="p50")
    right.bar([x + width / 2 for x in xs], [p["p99_ms"] for p in phases], width, label="p99")
    right.axhline(P99_TARGET_MS, color="tab:red", linestyle="--", label="p99 target")
    right.set_xticks(list(xs), [p["name"] for p in phases])
    right.set_ylabel("batch latency, ms")
    right.set_title("latency per batch")
    right.legend()
    return titled(fig, title)


def write_results(
    phases: list[dict[str, Any]],
    goals: dict[str, Any],
    outcomes: dict[str, int],
    args: argparse.Namespace,
) -> None:
    """Save the JSON (timestamped and latest) and the plot."""
    settings = {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "batch_size": args.batch_size,
        "alone_batch_size": ALONE_SIZE,
        "alone_repeats": ALONE_REPEATS,
        "workers": args.workers,
        "paced_fraction": args.paced_fraction,
    }
    doc = results_doc(settings, phases=phases, verdict=goals, server_receipt_outcomes=outcomes)
    title = (
        f"sync benchmark {doc['timestamp']}: {args.connections} connections"
        f" x {args.batch_size} mutations, {args.duration} s, workers={args.workers}"
    )
    keep_results(args.out, "sync", doc, lambda: plot(phases, goals, title))


def main() -> None:
    """Entry point."""
    args = parse_args()
    prepare_out(args)
    with failures_end_run(OSError, asyncpg.PostgresError):
        phases, outcomes = run_all(args)
    goals = verdict(phases)
    print(f"server receipt outcomes (check, warm-up, load, alone): {outcomes}")
    print_table(phases, goals)
    write_results(phases, goals, outcomes, args)


if __name__ == "__main__":
    main()
