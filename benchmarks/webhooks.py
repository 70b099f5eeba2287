"""Webhooks: deliveries per second to a CRM's receiver, and the feed's p99 while they go out.

A fresh PostgreSQL database with the demo data, and ``python -m server run`` with one HTTP
worker, one webhook sender process (WEBHOOK_SENDERS=1, its default WEBHOOK_CONCURRENCY) and no
photo processors or push senders. The CRM's receiver runs on loopback in this process: it
answers 204 at once and keeps each delivery with its arrival time; afterwards every one must
verify with the webhook's secret (``standardwebhooks``) and be there once.

The API key comes from ``python -m server create-api-key``, the webhook (``checkin.recorded``)
from the API. The events are check-outs, sent by the staff of the demo dispatcher's branch in
sync batches of ``--batch`` (each check-out one event, spread over each person's own jobs, so
the per-job order holds many jobs at once). wrk reads a staff member's first feed page for a
bounded window twice: idle (the same run's baseline), and busy, from the first batch on;
rounds of ``--events`` follow back to back until the window ends or ``--max-rounds``. Each
round is timed from its first batch until the receiver has all of its events: deliveries/s is
their count over that time; latency is each event's arrival minus its ``timestamp``.

Run from the repository root:
    .venv/bin/python -m benchmarks.webhooks --events 2000
"""

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from standardwebhooks.webhooks import Webhook

from benchmarks.harness import (
    SERVER_COMMAND,
    add_feed_window_options,
    add_run_options,
    api,
    failures_end_run,
    feed_figures,
    feed_wrk_args,
    free_port,
    idle_window,
    keep_results,
    login,
    plot_feed,
    prepare_out,
    print_feed_windows,
    require_wrk,
    results_doc,
    running,
    seed_fresh_database,
    server_env,
    staff_first_page,
    titled,
    two_panels,
    wait_ready,
    wrk_in_background,
)

STAFF = [f"staff{n}@demo.local" for n in range(1, 11)]  # the demo dispatcher's branch
WEBHOOKS_PATH = "/api/integration/v1/webhooks"
HTTP_WORKERS = 1
WEBHOOK_POLL_SECONDS = 0.05
JOBS_PER_STAFF = 100


@dataclass
class Receiver:
    """The CRM's end: 204 at once, each delivery kept with when it arrived."""

    received: list[tuple[float, dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    want: int = 0
    port: int = 0

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((time.time(), dict(request.headers), body))
        if len(self.received) >= self.want:
            self.arrived.set()
        return web.Response(status=204)

    async def wait_for(self, count: int) -> None:
        self.want = count
        if len(self.received) < count:
            self.arrived.clear()
            await self.arrived.wait()


def parse_args() -> argparse.Namespace:
    """Read the run settings; defaults match `make bench-webhooks`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per round")
    parser.add_argument("--batch", type=int, default=100, help="check-outs per sync batch")
    add_feed_window_options(parser, 10, "")
    parser.add_argument("--max-rounds", type=int, default=5, help="rounds, at most")
    parser.add_argument("--timeout", type=float, default=120.0, help="s for one round")
    add_run_options(parser, "tinedy_webhook_bench")
    args = parser.parse_args()
    if not 1 <= args.events <= 50_000 or not 1 <= args.batch <= 1000:
        parser.error("--events must lie between 1 and 50000, --batch between 1 and 1000")
    counts = (args.feed_duration, args.connections, args.threads, args.max_rounds)
    if min(counts) < 1 or args.warmup < 0 or args.timeout <= 0:
        parser.error("durations, counts and connections must be positive")
    return args


def create_key(env: dict[str, str]) -> str:
    """An API key made as an operator makes one."""
    made = subprocess.run(
        [sys.executable, "-m", "server", "create-api-key", "--name", "bench", "--scope", "all"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return made.stdout.strip()


def crm_call(port: int, key: str, method: str, path: str, expect: int, body: Any = None) -> Any:
    """``api`` works for an API key as for a person's token: both are bearer tokens."""
    return api(port, key, method, path, expect, body)


def staff_jobs(port: int, token: str) -> list[str]:
    page = api(port, token, "GET", f"/api/mobile/jobs?limit={JOBS_PER_STAFF}", 200)
    return [job["id"] for job in page["jobs"]]


def check_outs(jobs: list[str], count: int, start: int) -> dict[str, Any]:
    """A sync batch of ``count`` check-outs on ``jobs`` in turn (from ``start``)."""
    now = datetime.now(UTC).isoformat()
    entries = [
        {
            "mutationId": str(uuid.uuid4()),
            "jobId": jobs[(start + n) % len(jobs)],
            "type": "out",
            "location": {"lat": 13.7083, "lng": 100.5838},
            "accuracy": 10.0,
            "timestamp": now,
        }
        for n in range(count)
    ]
    return {
        "deviceId": "webhook-bench",
        "deviceTime": now,
        "pendingUpdates": [],
        "photos": [],
        "checkIns": entries,
    }


async def one_round(
    port: int, phones: list[tuple[str, list[str]]], receiver: Receiver, args: argparse.Namespace
) -> dict[str, Any]:
    """``args.events`` check-outs in batches over the staff, timed until all arrived."""
    before = len(receiver.received)
    started = time.time()
    sent = 0
    while sent < args.events:
        token, jobs = phones[(sent // args.batch) % len(phones)]
        size = min(args.batch, args.events - sent)
        await asyncio.to_thread(
            api, port, token, "POST", "/api/mobile/sync", 200, check_outs(jobs, size, sent)
        )
        sent += size
    written = time.time() - started
    async with asyncio.timeout(args.timeout):
        await receiver.wait_for(before + args.events)
    arrivals = receiver.received[before : before + args.events]
    took = max(at for at, _, _ in arrivals) - started
    latencies = sorted(at - _timestamp(body) for at, _, body in arrivals)
    return {
        "events": args.events,
        "written_s": round(written, 3),
        "delivered_s": round(took, 3),
        "deliveries_per_s": round(args.events / took, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        "arrivals_s": [round(at - started, 4) for at, _, _ in arrivals][:: _step(len(arrivals))],
    }


def _step(count: int) -> int:
    """Keep about 500 arrival times a round for the plot."""
    return max(1, count // 500)


def _timestamp(body: bytes) -> float:
    return datetime.fromisoformat(orjson.loads(body)["timestamp"]).timestamp()


async def busy_window(
    port: int,
    phones: list[tuple[str, list[str]]],
    receiver: Receiver,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """wrk on the feed from the first batch; rounds back to back until it ends."""
    scenario = staff_first_page(port, phones[0][0])
    print(f"~ feed busy: webhooks going out while measuring {args.feed_duration} s", flush=True)
    wrk = wrk_in_background(scenario, feed_wrk_args(args))
    rounds: list[dict[str, Any]] = []
    while not wrk.done() and len(rounds) < args.max_rounds:
        rounds.append(await one_round(port, phones, receiver, args))
    return {"busy": feed_figures(await wrk), "rounds": rounds}


def verified(receiver: Receiver, secret: str) -> dict[str, int]:
    """Every delivery's signature checked as a receiver checks it, and each there once."""
    webhook = Webhook(secret)
    ok = 0
    for _, headers, body in receiver.received:
        if _signature_ok(webhook, headers, body):
            ok += 1
    ids = {headers["webhook-id"] for _, headers, _ in receiver.received}
    return {"received": len(receiver.received), "verified": ok, "distinct_ids": len(ids)}


def _signature_ok(webhook: Webhook, headers: dict[str, str], body: bytes) -> bool:
    """As ``Webhook.verify``, less its five-minute freshness window (checked after the run)."""
    stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC)
    expected = webhook.sign(headers["webhook-id"], stamp, body)
    return expected in headers["webhook-signature"].split(" ")


async def measure(
    port: int, key: str, receiver: Receiver, args: argparse.Namespace
) -> dict[str, Any]:
    url = f"http://127.0.0.1:{receiver.port}/hooks"
    made = await asyncio.to_thread(
        crm_call,
        port,
        key,
        "POST",
        WEBHOOKS_PATH,
        201,
        {"url": url, "events": ["checkin.recorded"]},
    )
    tokens = [await asyncio.to_thread(login, port, email) for email in STAFF]
    phones = [(token, await asyncio.to_thread(staff_jobs, port, token)) for token in tokens]
    print(f"~ {len(phones)} staff, {sum(len(j) for _, j in phones)} jobs", flush=True)
    idle = await asyncio.to_thread(
        idle_window, staff_first_page(port, tokens[0]), feed_wrk_args(args)
    )
    busy = await busy_window(port, phones, receiver, args)
    log = await asyncio.to_thread(
        crm_call, port, key, "GET", f"{WEBHOOKS_PATH}/{made['id']}/deliveries?state=queued", 200
    )
    return {
        "idle": idle,
        **busy,
        "p99_ratio": round(busy["busy"]["p99_ms"] / idle["p99_ms"], 2),
        "checks": {**verified(receiver, made["secret"]), "queued": len(log["deliveries"])},
    }


async def run_all(args: argparse.Namespace, data_dir: str) -> dict[str, Any]:
    """Fresh database, the receiver, the server; always stopped."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", receiver.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    receiver.port = free_port()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    port = free_port()
    env = {
        **server_env(args.database_url, port, HTTP_WORKERS),
        "DATA_DIR": data_dir,
        "PHOTO_PROCESSING_WORKERS": "0",
        "PUSH_SENDERS": "0",
        "WEBHOOK_SENDERS": "1",
        "WEBHOOK_ALLOWED_ORIGINS": f"http://127.0.0.1:{receiver.port}",
        "WEBHOOK_POLL_SECONDS": str(WEBHOOK_POLL_SECONDS),
    }
    try:
        await asyncio.to_thread(seed_fresh_database, args.database_url, env)
        key = await asyncio.to_thread(create_key, env)
        log_path = args.out / "webhooks-server.log"
        with running(SERVER_COMMAND, env, log_path) as server:
            await asyncio.to_thread(wait_ready, server, port, "/readyz", log_path)
            return await measure(port, key, receiver, args)
    finally:
        await runner.cleanup()


def summary(result: dict[str, Any]) -> dict[str, Any]:
    rates = [row["deliveries_per_s"] for row in result["rounds"]]
    events = sum(row["events"] for row in result["rounds"])
    checks = result["checks"]
    ok = checks["received"] == checks["verified"] == checks["distinct_ids"] == events
    return {
        "rounds": len(rates),
        "deliveries_per_s_median": statistics.median(rates),
        "deliveries_per_s_min": min(rates),
        "deliveries_per_s_max": max(rates),
        "latency_p99_ms_median": statistics.median(r["latency_p99_ms"] for r in result["rounds"]),
        "all_ok": ok and checks["queued"] == 0,
    }


def print_result(doc: dict[str, Any], args: argparse.Namespace) -> None:
    hooks = doc["webhooks"]
    print_feed_windows(hooks)
    print(f"busy/idle p99: {hooks['p99_ratio']:.2f}")
    print(
        f"{'#':>2} {'events':>7} {'written s':>10} {'delivered s':>12} {'deliveries/s':>13}"
        f" {'p50 ms':>8} {'p99 ms':>8}"
    )
    for n, row in enumerate(hooks["rounds"], 1):
        print(
            f"{n:>2} {row['events']:>7} {row['written_s']:>10.2f} {row['delivered_s']:>12.2f}"
            f" {row['deliveries_per_s']:>13.0f} {row['latency_p50_ms']:>8.1f}"
            f" {row['latency_p99_ms']:>8.1f}"
        )
    s, c = doc["summary"], hooks["checks"]
    verdict = "all verified, once each" if s["all_ok"] else f"SOME FAILED: {c}"
    print(
        f"median {s['deliveries_per_s_median']:.0f} deliveries/s (min"
        f" {s['deliveries_per_s_min']:.0f}, max {s['deliveries_per_s_max']:.0f}), {verdict}"
    )
    print(
        f"(staff first page, wrk -t{args.threads} -c{args.connections} -d{args.feed_duration}s;"
        f" WORKERS={HTTP_WORKERS}, WEBHOOK_SENDERS=1, batches of {args.batch})"
    )


def plot_arrivals(ax: Axes, rounds: list[dict[str, Any]]) -> None:
    for n, row in enumerate(rounds, 1):
        arrivals = row["arrivals_s"]
        step = _step(row["events"])
        counts = [step * (i + 1) for i in range(len(arrivals))]
        ax.plot(arrivals, counts, label=f"#{n}: {row['deliveries_per_s']:.0f}/s")
    ax.set_xlabel("s since the round's first batch")
    ax.set_ylabel("deliveries received")
    ax.set_title("arrivals at the receiver")
    ax.legend()


def plot(doc: dict[str, Any]) -> Figure:
    fig, left, right = two_panels(10)
    plot_feed(left, doc["webhooks"])
    plot_arrivals(right, doc["webhooks"]["rounds"])
    events = doc["settings"]["events"]
    return titled(fig, f"webhook benchmark {doc['timestamp']}: {events} events a round")


def settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "events": args.events,
        "batch": args.batch,
        "staff": len(STAFF),
        "http_workers": HTTP_WORKERS,
        "webhook_poll_seconds": WEBHOOK_POLL_SECONDS,
        "feed_duration_s": args.feed_duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "threads": args.threads,
        "max_rounds": args.max_rounds,
        "timeout_s": args.timeout,
    }


def main() -> None:
    """Entry point."""
    args = parse_args()
    prepare_out(args)
    require_wrk("bench-webhooks")
    doc = results_doc(settings(args))
    with (
        failures_end_run(AssertionError, TimeoutError),
        tempfile.TemporaryDirectory(prefix="webhook-bench-") as tmp,
    ):
        doc["webhooks"] = asyncio.run(run_all(args, tmp))
    doc["summary"] = summary(doc["webhooks"])
    print_result(doc, args)
    keep_results(args.out, "webhooks", doc, lambda: plot(doc))


if __name__ == "__main__":
    main()
