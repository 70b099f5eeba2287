"""Web Push: pushes per second to many subscriptions, and the feed's p99 while a broadcast runs.

A fresh PostgreSQL database with the demo data, and ``python -m server run`` with one HTTP
worker, no photo processors, and its push dispatcher pointed at the loopback push service of
the tests (tests/push/push_service.py). That service checks each message as a real one does:
TTL, VAPID signed by the server's published key, and an aes128gcm payload it decrypts with the
subscription's keys; it runs in this process, so its own decryption is part of the figure.

``--subscriptions`` browser-like subscriptions are registered through the API, spread over the
staff of the demo dispatcher's branch (Sukhumvit: staff1 to staff10), each POST with that staff
member's bearer token. wrk then reads a staff member's first feed page, as benchmarks.feed
does, for a bounded window twice: idle, with no push anywhere, and busy, started the moment the
dispatcher sends ``{"role": "staff"}``; broadcasts follow back to back until the window ends or
``--max-broadcasts`` is reached. Each broadcast is timed from the send until the push service
has all of its messages: pushes/s is their count over that time. Afterwards each notification's
detail must count every delivery ``accepted``.

Run from the repository root:
    .venv/bin/python -m benchmarks.push --subscriptions 1000
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from benchmarks.harness import (
    SERVER_COMMAND,
    Scenario,
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
    request,
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

# The fake push service is test code, not part of the installed package.
from tests.push.push_service import PushService, Received

SUBSCRIPTIONS_PATH = "/api/mobile/push/subscriptions"
SEND_PATH = "/api/mobile/notifications/send"
NOTIFICATION_PATH = "/api/mobile/notifications/{}"
VAPID_PATH = "/api/mobile/push/vapid-public-key"
# The demo dispatcher's branch; a role broadcast reaches the staff of that branch only.
STAFF = [f"staff{n}@demo.local" for n in range(1, 11)]
DISPATCHER = "dispatcher@demo.local"
HTTP_WORKERS = 1
PUSH_POLL_SECONDS = 0.05
SETTLE_TIMEOUT_S = 30.0
SETTLE_POLL_S = 0.2


def parse_args() -> argparse.Namespace:
    """Read the run settings; defaults match `make bench-push`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1000, help="subscriptions in all")
    add_feed_window_options(parser, 10, "")
    parser.add_argument("--max-broadcasts", type=int, default=5, help="broadcasts, at most")
    parser.add_argument("--timeout", type=float, default=120.0, help="s for one broadcast")
    add_run_options(parser, "tinedy_push_bench")
    args = parser.parse_args()
    if not 1 <= args.subscriptions <= 20_000:
        parser.error("--subscriptions must lie between 1 and 20000")
    counts = (args.feed_duration, args.connections, args.threads, args.max_broadcasts)
    if min(counts) < 1 or args.warmup < 0 or args.timeout <= 0:
        parser.error("durations, counts and connections must be positive")
    return args


def subscribe_all(port: int, tokens: list[str], bodies: list[dict[str, Any]]) -> None:
    """Register each subscription as its staff member's phone would, in turn over the staff."""
    for n, body in enumerate(bodies):
        api(port, tokens[n % len(tokens)], "POST", SUBSCRIPTIONS_PATH, 201, body)


async def register(port: int, push: PushService, count: int) -> list[str]:
    """Sign the staff in, register ``count`` subscriptions; the staff's tokens."""
    tokens = [await asyncio.to_thread(login, port, email) for email in STAFF]
    bodies = [push.new_subscription() for _ in range(count)]
    print(f"~ registering {count} subscriptions over {len(STAFF)} staff", flush=True)
    started = time.monotonic()
    await asyncio.to_thread(subscribe_all, port, tokens, bodies)
    print(f"~ registered in {time.monotonic() - started:.1f} s", flush=True)
    return tokens


async def broadcast(
    port: int, dispatcher: str, push: PushService, count: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One role broadcast, timed from the send until the push service has all its messages."""
    before = len(push.received)
    message = {"role": "staff", "title": "Benchmark", "body": f"broadcast {before // count + 1}"}
    sent_at = time.time()
    queued = await asyncio.to_thread(api, port, dispatcher, "POST", SEND_PATH, 202, message)
    received = (await push.wait_for(before + count, args.timeout))[before:]
    return broadcast_figures(queued, received, sent_at, count)


def broadcast_figures(
    queued: dict[str, Any], received: list[Received], sent_at: float, count: int
) -> dict[str, Any]:
    """Pushes/s and first/last arrival of one broadcast; the arrival curve for the plot."""
    arrivals = sorted(r.at.timestamp() - sent_at for r in received[:count])
    ours = [r for r in received if _notification_id(r) == queued["notificationId"]]
    return {
        "notification_id": queued["notificationId"],
        "recipients": queued["recipients"],
        "received": len(received),
        "decrypted_ok": sum(r.error is None for r in received),
        "status_201": sum(r.status == 201 for r in received),
        "for_this_notification": len(ours),
        "first_s": round(arrivals[0], 4),
        "last_s": round(arrivals[-1], 4),
        "pushes_per_s": round(count / arrivals[-1], 1),
        "arrivals_s": [round(a, 4) for a in arrivals],
    }


def _notification_id(received: Received) -> Any:
    payload = received.payload_json
    return payload.get("notificationId") if isinstance(payload, dict) else None


async def busy_window(
    port: int,
    dispatcher: str,
    push: PushService,
    scenario: Scenario,
    wrk_args: argparse.Namespace,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """wrk on the feed from the first send; broadcasts back to back until it ends."""
    print(f"~ feed busy: broadcasts while measuring {args.feed_duration} s", flush=True)
    started = time.monotonic()
    wrk = wrk_in_background(scenario, wrk_args)
    broadcasts: list[dict[str, Any]] = []
    while not wrk.done() and len(broadcasts) < args.max_broadcasts:
        broadcasts.append(await broadcast(port, dispatcher, push, args.subscriptions, args))
    broadcasting_s = time.monotonic() - started
    stats = await wrk
    return {
        "busy": feed_figures(stats),
        "broadcasting_s": round(broadcasting_s, 2),
        "broadcasts": broadcasts,
    }


async def settled_counts(port: int, dispatcher: str, notification_id: str, want: int) -> Any:
    """The notification's delivery counts, once ``want`` are accepted or the bound is hit;
    the server records an acceptance just after the push service answers."""
    path = NOTIFICATION_PATH.format(notification_id)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        detail = await asyncio.to_thread(api, port, dispatcher, "GET", path, 200)
        counts = detail["counts"]
        if counts.get("accepted", 0) >= want or time.monotonic() > deadline:
            return counts
        await asyncio.sleep(SETTLE_POLL_S)


async def measure(port: int, push: PushService, args: argparse.Namespace) -> dict[str, Any]:
    """Subscriptions, the feed idle, then busy with broadcasts; the deliveries' counts."""
    vapid = await asyncio.to_thread(request, port, "GET", VAPID_PATH, {})
    push.vapid_public_key = json.loads(vapid.body)["publicKey"]
    tokens = await register(port, push, args.subscriptions)
    dispatcher = await asyncio.to_thread(login, port, DISPATCHER)
    scenario = staff_first_page(port, tokens[0])
    wrk_args = feed_wrk_args(args)
    idle = await asyncio.to_thread(idle_window, scenario, wrk_args)
    busy = await busy_window(port, dispatcher, push, scenario, wrk_args, args)
    for row in busy["broadcasts"]:
        want = args.subscriptions
        row["counts"] = await settled_counts(port, dispatcher, row["notification_id"], want)
    return {"idle": idle, **busy, "p99_ratio": round(busy["busy"]["p99_ms"] / idle["p99_ms"], 2)}


async def run_all(args: argparse.Namespace, data_dir: str) -> dict[str, Any]:
    """Fresh database, the push service, the server; always stopped."""
    port = free_port()
    async with PushService() as push:
        env = {
            **server_env(args.database_url, port, HTTP_WORKERS),
            "DATA_DIR": data_dir,
            "PHOTO_PROCESSING_WORKERS": "0",
            "PUSH_SERVICE_HOSTS": push.origin,
            "PUSH_POLL_SECONDS": str(PUSH_POLL_SECONDS),
        }
        await asyncio.to_thread(seed_fresh_database, args.database_url, env)
        log_path = args.out / "push-server.log"
        # Not ``serving``: the push service answers on this loop while the server starts.
        with running(SERVER_COMMAND, env, log_path) as server:
            await asyncio.to_thread(wait_ready, server, port, "/readyz", log_path)
            return await measure(port, push, args)


def summary(result: dict[str, Any], count: int) -> dict[str, Any]:
    """The figures over all broadcasts; ``all_ok`` when every message checked out."""
    rows = result["broadcasts"]
    rates = [row["pushes_per_s"] for row in rows]
    ok = all(
        row["decrypted_ok"] == row["status_201"] == row["for_this_notification"] == count
        and row["counts"].get("accepted", 0) == count
        for row in rows
    )
    return {
        "broadcasts": len(rows),
        "pushes_per_s_median": statistics.median(rates),
        "pushes_per_s_min": min(rates),
        "pushes_per_s_max": max(rates),
        "all_ok": ok,
    }


def print_result(doc: dict[str, Any], args: argparse.Namespace) -> None:
    push = doc["push"]
    print_feed_windows(push)
    print(f"busy/idle p99: {push['p99_ratio']:.2f}")
    print(
        f"{'#':>2} {'pushes/s':>9} {'first s':>8} {'last s':>8} {'decrypted':>10} {'accepted':>9}"
    )
    for n, row in enumerate(push["broadcasts"], 1):
        print(
            f"{n:>2} {row['pushes_per_s']:>9.0f} {row['first_s']:>8.3f} {row['last_s']:>8.3f}"
            f" {row['decrypted_ok']:>10} {row['counts'].get('accepted', 0):>9}"
        )
    s = doc["summary"]
    verdict = "all decrypted and accepted" if s["all_ok"] else "SOME FAILED"
    print(
        f"{args.subscriptions} subscriptions: median {s['pushes_per_s_median']:.0f} pushes/s"
        f" (min {s['pushes_per_s_min']:.0f}, max {s['pushes_per_s_max']:.0f}), {verdict}"
    )
    print(
        f"(staff first page, wrk -t{args.threads} -c{args.connections} -d{args.feed_duration}s;"
        f" WORKERS={HTTP_WORKERS}, PUSH_POLL_SECONDS={PUSH_POLL_SECONDS})"
    )


def plot_arrivals(ax: Axes, broadcasts: list[dict[str, Any]]) -> None:
    for n, row in enumerate(broadcasts, 1):
        arrivals = row["arrivals_s"]
        ax.plot(arrivals, range(1, len(arrivals) + 1), label=f"#{n}: {row['pushes_per_s']:.0f}/s")
    ax.set_xlabel("s since the send")
    ax.set_ylabel("pushes received")
    ax.set_title("arrivals at the push service")
    ax.legend()


def plot(doc: dict[str, Any]) -> Figure:
    """The feed's latency idle and busy; each broadcast's arrivals."""
    fig, left, right = two_panels(10)
    plot_feed(left, doc["push"])
    plot_arrivals(right, doc["push"]["broadcasts"])
    subs = doc["settings"]["subscriptions"]
    return titled(fig, f"push benchmark {doc['timestamp']}: {subs} subscriptions")


def settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "subscriptions": args.subscriptions,
        "staff": len(STAFF),
        "http_workers": HTTP_WORKERS,
        "push_poll_seconds": PUSH_POLL_SECONDS,
        "feed_duration_s": args.feed_duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "threads": args.threads,
        "max_broadcasts": args.max_broadcasts,
        "timeout_s": args.timeout,
    }


def main() -> None:
    """Entry point."""
    args = parse_args()
    prepare_out(args)
    require_wrk("bench-push")
    doc = results_doc(settings(args))
    with failures_end_run(AssertionError), tempfile.TemporaryDirectory(prefix="push-bench-") as tmp:
        doc["push"] = asyncio.run(run_all(args, tmp))
    doc["summary"] = summary(doc["push"], args.subscriptions)
    print_result(doc, args)
    keep_results(args.out, "push", doc, lambda: plot(doc))


if __name__ == "__main__":
    main()
