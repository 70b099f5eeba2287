"""Load benchmark of a fleet's working day: how many phones one instance, and the cluster,
serve with every endpoint's p99 under 200 ms.

Each step runs the day of ``fleet_locustfile.py`` (phones holding live streams, revalidating
their job list, opening jobs, syncing status changes, check-ins and ticks, uploading photos;
dispatchers assigning and re-prioritising) with Locust in a process of its own, for N phones.
An 8-hour day runs in ``--duration`` seconds: at the default 60 s that is a speed-up of 480,
so N phones send the requests of 480 x N phones at a real pace (but hold only N streams).
Steps go up through ``--fleets``, the targets taking turns at each size, until a target
saturates twice in a row (a p50 at 200 ms, or 1 % errors).

Targets, side by side, each on a fresh PostgreSQL database (``<database>_<target>``) with the
demo and the fleet seeded, and a Redis database of its own: ``instance`` is one
``python -m server run`` (``--workers``, Redis for cache and throttle, no proxy); ``cluster``
is ``server.cluster``: nginx in front of two instances of 2 workers. The load generator shares
the machine's cores with everything it measures.

Run from the repository root:
    .venv/bin/python -m benchmarks.fleet --fleets 5 10 20 40 80 --duration 60
"""

import argparse
import asyncio
import csv
import json
import math
import os
import resource
import signal
import subprocess
import sys
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from benchmarks.fleet_world import FleetWorld, seed_fleet
from benchmarks.harness import (
    BENCH_DIR,
    REPO_ROOT,
    Connection,
    add_database_option,
    add_out_option,
    cpu_ms,
    descendants,
    failures_end_run,
    free_port,
    prepare_out,
    results_doc,
    save_json,
    sign_in,
)
from benchmarks.machine_probe import MachineProbe
from server.cluster.layout import Cluster, ClusterConfig, running_cluster
from server.core.clock import BANGKOK

LOCUSTFILE = BENCH_DIR / "fleet_locustfile.py"
DAY_HOURS = 8
PHONES_PER_DISPATCHER = 50
SIGN_IN_CONNECTIONS = 8
LOCUST_GRACE_S = 120.0
P99_TARGET_MS = 200.0
ERROR_RATE_LIMIT = 0.001
# A step this far gone ends the search: a typical request waits (p50) as long as the target
# allows the slowest, or requests fail outright. A p99 miss alone does not stop it, because
# on this shared machine a neighbour's burst can cost a small fleet its p99.
SATURATED_P50_MS = P99_TARGET_MS
SATURATED_ERROR_RATE = 0.01
# What every benchmark instance gets besides the cluster's own settings: tokens that outlive
# the run (a stream ends when its token does).
BENCH_SETTINGS = {"ACCESS_TOKEN_SECONDS": "3600"}
EVENT_PREFIX = "SSE "


@dataclass
class Seats:
    """Sessions signed in so far on one target. Each step's phones are new ones (the earlier
    steps' phones have done their day's jobs); dispatchers carry on from step to step."""

    phones_used: int = 0
    dispatchers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Target:
    """One target under test: how it was started, the running layout, its fleet."""

    name: str
    config: ClusterConfig
    cluster: Cluster
    world: FleetWorld
    seats: Seats
    saturated_steps: int = 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", choices=["instance", "cluster"], default=None)
    parser.add_argument("--fleets", nargs="+", type=int, default=[5, 10, 20, 40, 80, 160])
    parser.add_argument("--duration", type=int, default=60, help="seconds per step (one day)")
    parser.add_argument("--workers", type=int, default=2, help="workers of the lone instance")
    add_database_option(parser, "tinedy_fleet")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    add_out_option(parser)
    parser.add_argument(
        "--report", type=Path, help="only render the tables and plot again from a run's JSON"
    )
    args = parser.parse_args()
    args.targets = args.targets or ["instance", "cluster"]
    args.fleets = sorted(args.fleets)
    return args


def target_config(target: str, n: int, args: argparse.Namespace) -> ClusterConfig:
    """The lone instance or the cluster (the ``n``th target), on a fresh database, a Redis
    database and ports of their own: both run side by side for the whole search."""
    redis = urlsplit(args.redis_url)
    redis_db = int(redis.path.lstrip("/") or 0) + n
    base = ClusterConfig(
        database_url=f"{args.database_url}_{target}",
        redis_url=urlunsplit(redis._replace(path=f"/{redis_db}")),
        run_dir=args.out / f"fleet-{target}",
        first_app_port=free_port(),
        listen_port=free_port(),
        fresh=True,
        settings=BENCH_SETTINGS,
    )
    if target == "instance":
        return replace(base, instances=1, workers=args.workers, edge=False)
    return base


def dispatchers_for(phones: int) -> int:
    """Dispatchers per branch: one per 50 phones of it (the phones split over two branches)."""
    return max(1, math.ceil(phones / 2 / PHONES_PER_DISPATCHER))


async def sign_in_all(port: int, emails: list[str], prefix: str) -> list[dict[str, Any]]:
    """Sign each e-mail in as a device of its own, a few at a time (each is a password hash)."""
    signed: list[dict[str, Any]] = [{} for _ in emails]
    todo = iter(range(len(emails)))

    async def signer() -> None:
        conn = await Connection.open(port)
        try:
            for n in todo:
                phone = await sign_in(conn, emails[n], f"{prefix}-{n}")
                signed[n] = {"token": phone.token, "deviceId": phone.client_id}
        finally:
            conn.close()

    await asyncio.gather(*(signer() for _ in range(SIGN_IN_CONNECTIONS)))
    return signed


def sign_in_step(
    cluster: Cluster, world: FleetWorld, phones: int, seats: Seats
) -> list[dict[str, Any]]:
    """Sign in this step's new phones, and the dispatchers it adds to the last step's."""
    port = urlsplit(cluster.url).port or 80
    new = world.phones[seats.phones_used : seats.phones_used + phones]
    seats.phones_used += phones
    signed = asyncio.run(sign_in_all(port, [p["email"] for p in new], "fleet-phone"))
    for branch, emails in world.dispatchers.items():
        have = seats.dispatchers.setdefault(branch, [])
        want = emails[len(have) : dispatchers_for(phones)]
        office = asyncio.run(sign_in_all(port, want, f"fleet-office-{branch}"))
        have += [{**seat, "branch": branch} for seat in office]
    return [{**phone, **seat} for phone, seat in zip(new, signed, strict=True)]


def plan_for(phones: list[dict[str, Any]], seats: Seats, count: int, speedup: float) -> Any:
    """What the Locust process reads: its users' sessions and the jobs they may touch."""
    by_branch: dict[str, list[dict[str, Any]]] = {}
    for phone in phones:
        by_branch.setdefault(phone["branch"], []).append(phone)
    return {
        "speedup": speedup,
        "today": datetime.now(BANGKOK).date().isoformat(),
        "phones": phones,
        "dispatchers": [
            seat
            for seats_ in seats.dispatchers.values()
            for seat in seats_[: dispatchers_for(count)]
        ],
        "staff": {b: [p["userId"] for p in ps] for b, ps in by_branch.items()},
        "rounds": {b: [j for p in ps for j in p["jobs"]] for b, ps in by_branch.items()},
        "pool": {b: [j for p in ps for j in p["pool"]] for b, ps in by_branch.items()},
    }


def server_cpu_s(cluster: Cluster) -> float:
    """CPU used so far by every process of the target: instances, their workers and helpers,
    and nginx."""
    roots = [i.process.pid for i in cluster.instances]
    if cluster.edge is not None:
        roots.append(cluster.edge.pid)
    total = 0.0
    for pid in roots + [d for root in roots for d in descendants(root)]:
        with suppress(OSError):
            total += cpu_ms(pid)
    return total / 1000


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_locust(url: str, plan_path: Path, prefix: Path, users: int, duration: int) -> None:
    """Locust headless for ``duration`` seconds, spawning every user within about 5 s."""
    env = {**os.environ, "FLEET_PLAN": str(plan_path), "FLEET_OUTCOMES": f"{prefix}-outcomes.json"}
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(max(10, users // 5)),
        "--run-time",
        f"{duration}s",
        "--host",
        url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    with Path(f"{prefix}-locust.log").open("wb") as log:
        subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=duration + LOCUST_GRACE_S,
        )


def read_endpoints(prefix: Path) -> list[dict[str, Any]]:
    """Per endpoint from Locust's CSV: requests, errors, p50/p95/p99 (ms)."""
    endpoints = []
    with Path(f"{prefix}_stats.csv").open() as stats:
        for row in csv.DictReader(stats):
            if row["Name"] == "Aggregated":
                continue
            name = (
                row["Name"]
                if row["Name"].startswith(row["Type"])
                else f"{row['Type']} {row['Name']}"
            )
            count, failures = int(row["Request Count"]), int(row["Failure Count"])
            endpoints.append(
                {
                    "endpoint": name,
                    "requests": count,
                    "errors": failures,
                    "error_rate": failures / count if count else 0.0,
                    "req_per_s": float(row["Requests/s"]),
                    **{f"p{q}_ms": _ms(row[f"{q}%"]) for q in (50, 95, 99)},
                }
            )
    return sorted(endpoints, key=lambda e: e["endpoint"])


def _ms(value: str) -> float | None:
    return None if value == "N/A" else float(value)


def read_failures(prefix: Path) -> list[dict[str, str]]:
    with Path(f"{prefix}_failures.csv").open() as failures:
        return list(csv.DictReader(failures))[:10]


def missed(endpoints: list[dict[str, Any]], percentile: str = "p99_ms") -> list[str]:
    """The endpoints whose ``percentile`` reaches the target or whose errors pass 0.1 %. The
    events' arrival (``SSE ...``) is shown, not judged: it is not a request."""
    return [
        e["endpoint"]
        for e in endpoints
        if not e["endpoint"].startswith(EVENT_PREFIX)
        and ((e[percentile] or 0) >= P99_TARGET_MS or e["error_rate"] > ERROR_RATE_LIMIT)
    ]


def saturated(step: dict[str, Any]) -> bool:
    """Whether a larger fleet is pointless: see SATURATED_P50_MS."""
    return any(
        (e["p50_ms"] or 0) >= SATURATED_P50_MS or e["error_rate"] >= SATURATED_ERROR_RATE
        for e in step["endpoints"]
        if not e["endpoint"].startswith(EVENT_PREFIX)
    )


def run_step(live: Target, phones: int, args: argparse.Namespace) -> dict[str, Any]:
    """One day for ``phones`` phones: sign in, run Locust, read what it measured."""
    cluster, target = live.cluster, live.name
    fleet = sign_in_step(cluster, live.world, phones, live.seats)
    speedup = DAY_HOURS * 3600 / args.duration
    plan = plan_for(fleet, live.seats, phones, speedup)
    prefix = args.out / f"fleet-{target}-{phones}"
    plan_path = Path(f"{prefix}-plan.json")
    plan_path.write_text(json.dumps(plan))
    users = phones + len(plan["dispatchers"])
    print(
        f"~ {target}: {phones} phones, {len(plan['dispatchers'])} dispatchers, {args.duration} s",
        flush=True,
    )
    load_before, server_before, generator_before = (
        os.getloadavg(),
        server_cpu_s(cluster),
        children_cpu_s(),
    )
    with MachineProbe(live.config.database_url) as probe:
        run_locust(cluster.url, plan_path, prefix, users, args.duration)
    endpoints = read_endpoints(prefix)
    misses = missed(endpoints)
    return {
        "target": target,
        "phones": phones,
        "dispatchers": len(plan["dispatchers"]),
        "speedup": speedup,
        "duration_s": args.duration,
        "holds": not misses,
        "missed": misses,
        "endpoints": endpoints,
        "failures": read_failures(prefix),
        "sync": json.loads(Path(f"{prefix}-outcomes.json").read_text()),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "server_cores": (server_cpu_s(cluster) - server_before) / args.duration,
        "generator_cores": (children_cpu_s() - generator_before) / args.duration,
        "generator_warnings": locust_warnings(prefix),
        "machine_probe": probe.summary(),
    }


def locust_warnings(prefix: Path) -> list[str]:
    """Locust's own complaints, such as its CPU being saturated (then it measured itself)."""
    lines = Path(f"{prefix}-locust.log").read_text().splitlines()
    return [line for line in lines if "WARNING" in line or "CPU" in line][:10]


def start_target(name: str, n: int, stack: ExitStack, args: argparse.Namespace) -> Target:
    """Start one target on a fresh database and seed the fleet of every step into it."""
    config = target_config(name, n, args)
    cluster = stack.enter_context(running_cluster(config))
    today = datetime.now(BANGKOK).date()
    office = dispatchers_for(args.fleets[-1])
    world = asyncio.run(seed_fleet(config.database_url, sum(args.fleets), office, today))
    return Target(name, config, cluster, world, Seats())


def run_targets(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Step the fleet up on every target at once, one after the other at each size, so both
    meet the same neighbours. A target leaves the search after two saturated steps in a row
    (one could be a neighbour's burst)."""
    steps: list[dict[str, Any]] = []
    with ExitStack() as stack:
        live = [start_target(name, n, stack, args) for n, name in enumerate(args.targets)]
        for phones in args.fleets:
            for target in list(live):
                step = run_step(target, phones, args)
                steps.append(step)
                print_step(step)
                target.saturated_steps = target.saturated_steps + 1 if saturated(step) else 0
                if target.saturated_steps == 2:
                    live.remove(target)
            if not live:
                break
    return steps


def fmt_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def step_table(step: dict[str, Any]) -> list[str]:
    """One step as a markdown table: per endpoint, requests, p50/p95/p99 and errors."""
    lines = [
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for e in step["endpoints"]:
        mark = " ✗" if e["endpoint"] in step["missed"] else ""
        lines.append(
            f"| {e['endpoint']} | {e['requests']:,} | {e['req_per_s']:,.1f} | {fmt_ms(e['p50_ms'])}"
            f" | {fmt_ms(e['p95_ms'])} | {fmt_ms(e['p99_ms'])}{mark}"
            f" | {e['errors']} ({e['error_rate']:.2%}) |"
        )
    return lines


def step_heading(step: dict[str, Any]) -> str:
    verdict = "holds" if step["holds"] else "misses: " + ", ".join(step["missed"])
    load = " / ".join(f"{x:.2f}" for x in step["load_before"])
    probe = step["machine_probe"]
    return (
        f"{step['target']}, {step['phones']} phones + {step['dispatchers']} dispatchers"
        f" (x{step['speedup']:.0f}): {verdict}. Load average before {load};"
        f" server {step['server_cores']:.2f} cores, load generator {step['generator_cores']:.2f};"
        f" meanwhile a one-row commit took p50/p99 {fmt_ms(probe['commit_p50_ms'])}/"
        f"{fmt_ms(probe['commit_p99_ms'])} ms and a 10 ms nap overslept p99"
        f" {fmt_ms(probe['wake_delay_p99_ms'])} ms; sessions waiting for the change-log"
        f" lock: mean {probe['advisory_lock_waiters_mean'] or 0:.1f},"
        f" max {probe['advisory_lock_waiters_max'] or 0}"
    )


def print_step(step: dict[str, Any]) -> None:
    print(step_heading(step))
    print("\n".join(step_table(step)), flush=True)
    if step["sync"]["outcomes"].get("failed"):
        print(f"PROBLEM: sync entries failed: {step['sync']['failedExamples']}")
    for warning in step["generator_warnings"]:
        print(f"locust: {warning}")


def largest(steps: list[dict[str, Any]], percentile: str = "p99_ms") -> int | None:
    """The largest fleet whose every endpoint kept ``percentile`` within the target."""
    held = [s["phones"] for s in steps if not missed(s["endpoints"], percentile)]
    return max(held) if held else None


WRITE_METHODS = ("POST ", "PATCH ", "PUT ", "DELETE ")


def writes_per_s(step: dict[str, Any]) -> float:
    """Successful writes (sync batches, check-ins, dispatch, uploads) per second of the step:
    each commits in its own transaction."""
    return sum(
        float(e["req_per_s"]) * (1 - float(e["error_rate"]))
        for e in step["endpoints"]
        if e["endpoint"].startswith(WRITE_METHODS)
    )


def verdict(steps: list[dict[str, Any]], targets: list[str]) -> dict[str, dict[str, Any]]:
    """Per target: the largest fleet within the target at p99, the same at p95 (less at the
    mercy of a neighbour's burst), the first fleet that saturated it, and the writes per
    second it committed at the largest fleet it held and at the largest it ran (two
    instances on one database should write more than one)."""
    found = {}
    for target in targets:
        mine = [s for s in steps if s["target"] == target]
        gone = [s["phones"] for s in mine if saturated(s)]
        held = largest(mine)
        found[target] = {
            "p99_within_target": held,
            "p95_within_target": largest(mine, "p95_ms"),
            "saturated_at": min(gone) if gone else None,
            "writes_per_s_held": max(
                (writes_per_s(s) for s in mine if s["phones"] == held), default=None
            ),
            "writes_per_s_largest_run": max(
                (writes_per_s(s) for s in mine if s["phones"] == max(x["phones"] for x in mine)),
                default=None,
            ),
        }
    return found


def summary_table(steps: list[dict[str, Any]]) -> list[str]:
    """Every step on one line: each endpoint's p99, the error rate, the verdict, the load."""
    names = sorted({e["endpoint"] for s in steps for e in s["endpoints"]})
    head = [
        "target",
        "phones",
        *names,
        "errors",
        "writes/s",
        "within 200 ms",
        "load (1 min)",
        "commit p99",
        "wake-up p99",
        "lock waiters",
    ]
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join(["---"] * len(head)) + " |"]
    for s in steps:
        p99 = {e["endpoint"]: e["p99_ms"] for e in s["endpoints"]}
        requests = sum(e["requests"] for e in s["endpoints"])
        errors = sum(e["errors"] for e in s["endpoints"])
        cells = [
            s["target"],
            str(s["phones"]),
            *(fmt_ms(p99.get(n)) for n in names),
            f"{errors / requests:.2%}" if requests else "–",
            f"{writes_per_s(s):.1f}",
            "yes" if s["holds"] else "no",
            f"{s['load_before'][0]:.1f}",
            fmt_ms(s["machine_probe"]["commit_p99_ms"]),
            fmt_ms(s["machine_probe"]["wake_delay_p99_ms"]),
            f"{s['machine_probe']['advisory_lock_waiters_mean'] or 0:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def plot_percentile(ax: Axes, steps: list[dict[str, Any]], percentile: str) -> None:
    """One line per endpoint against the fleet, with the 200 ms target."""
    names = sorted({e["endpoint"] for s in steps for e in s["endpoints"]})
    for name in names:
        points = [
            (s["phones"], e[percentile])
            for s in steps
            for e in s["endpoints"]
            if e["endpoint"] == name and e[percentile] is not None
        ]
        style = ":" if name.startswith(EVENT_PREFIX) else "-"
        ax.plot(*zip(*points, strict=True), style, marker="o", label=name)
    ax.axhline(P99_TARGET_MS, color="red", linestyle="--", label="target 200 ms")
    ax.set_xscale("log", base=2)
    sizes = sorted({s["phones"] for s in steps})
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_yscale("log")
    ax.set_xlabel("phones (log scale)")
    ax.set_ylabel(f"{percentile.removesuffix('_ms')}, ms (log scale)")


def plot(doc: dict[str, Any], path: Path) -> None:
    """p99 (top) and p50 (bottom) per endpoint against the fleet, a column per target."""
    targets = list(doc["largest_fleet_within_target"])
    fig = Figure(figsize=(6 * len(targets) + 3, 9))
    axes = fig.subplots(2, len(targets), squeeze=False)
    for column, target in enumerate(targets):
        mine = [s for s in doc["steps"] if s["target"] == target]
        found = doc["largest_fleet_within_target"][target]
        plot_percentile(axes[0][column], mine, "p99_ms")
        plot_percentile(axes[1][column], mine, "p50_ms")
        axes[0][column].set_title(
            f"{target}: p99 within target up to {found['p99_within_target'] or 'none'},"
            f" saturated at {found['saturated_at'] or '-'}"
        )
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    speedup = doc["settings"]["speedup"]
    fig.suptitle(
        f"fleet benchmark {doc['timestamp']}: an 8-hour day in"
        f" {doc['settings']['duration_s']} s (x{speedup:.0f}) per step"
    )
    fig.tight_layout(rect=(0, 0, 1 - 3 / (6 * len(targets) + 3), 1))
    fig.savefig(path, dpi=100)


def report(doc: dict[str, Any], out: Path) -> None:
    """The markdown tables, the plot and the verdict, from a run's JSON."""
    steps = doc["steps"]
    text = [f"# Fleet benchmark {doc['timestamp']}", "", *summary_table(steps), ""]
    for step in steps:
        text += ["## " + step_heading(step), "", *step_table(step), ""]
    (out / "fleet-latest.md").write_text("\n".join(text))
    plot(doc, out / "fleet-latest.png")
    print("\n".join(summary_table(steps)))
    print(f"largest fleet: {doc['largest_fleet_within_target']}")
    print(f"results: {out / 'fleet-latest.json'}, .md and .png")


def write_results(steps: list[dict[str, Any]], args: argparse.Namespace) -> None:
    settings = {
        "fleets": args.fleets,
        "duration_s": args.duration,
        "day_hours": DAY_HOURS,
        "speedup": DAY_HOURS * 3600 / args.duration,
        "instance_workers": args.workers,
        "p99_target_ms": P99_TARGET_MS,
        "error_rate_limit": ERROR_RATE_LIMIT,
    }
    largest = verdict(steps, args.targets)
    doc = results_doc(settings, largest_fleet_within_target=largest, steps=steps)
    save_json(args.out, "fleet", doc)
    report(doc, args.out)


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the run as Ctrl-C does: through the clean-up that stops the servers."""
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    args = parse_args()
    prepare_out(args)
    if args.report:
        doc = json.loads(args.report.read_text())
        targets = list(dict.fromkeys(s["target"] for s in doc["steps"]))
        doc["largest_fleet_within_target"] = verdict(doc["steps"], targets)
        report(doc, args.out)
        return
    with failures_end_run():
        steps = run_targets(args)
    write_results(steps, args)


if __name__ == "__main__":
    main()
