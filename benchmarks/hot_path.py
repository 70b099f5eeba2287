"""Where one worker's time goes while it answers the feed: the real app in one process under
cProfile, loaded by wrk, its functions summed by where they live.

A regression in the feed's ratio shows up here as a name that grew: Sanic's header encoding,
a middleware, the rate limiter, the representation cache. The server profiles only between
two signals (SIGUSR1 starts, SIGUSR2 stops and writes the stats), so start-up and the
database's first reads stay out of it. cProfile slows every call alike; shares, not times,
are what to read.

``python -m benchmarks.hot_path serve PORT STATS_FILE`` is the profiled server (the feed
benchmark starts it with the run's environment); :func:`profile_scenarios` drives it.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.harness import HOST, Scenario, run_wrk, running, wait_ready

TOP = 12
PLACES = (
    ("sanic/", "sanic"),
    ("server/http/", "server.http"),
    ("server/core/", "server.core"),
    ("server/jobs/", "server.jobs"),
    ("server/auth/", "server.auth"),
    ("server/changes/", "server.changes"),
    ("limits/", "limits"),
    ("prometheus_client/", "prometheus_client"),
    ("jwt/", "jwt"),
    ("asyncio/", "asyncio"),
    ("uvloop/", "uvloop"),
    ("httptools/", "httptools"),
)


def serve(port: int, stats_file: Path) -> None:
    """Serve the app in this process; profile between SIGUSR1 and SIGUSR2."""
    from server.app import logged_app
    from server.config import Settings

    app = logged_app(Settings())
    profile = cProfile.Profile()

    def started(_app: Any, loop: Any) -> None:
        loop.add_signal_handler(signal.SIGUSR1, profile.enable)
        loop.add_signal_handler(signal.SIGUSR2, lambda: finish(profile, stats_file))

    app.after_server_start(started)
    app.run(host=HOST, port=port, single_process=True, access_log=False, motd=False)


def finish(profile: cProfile.Profile, stats_file: Path) -> None:
    profile.disable()
    profile.dump_stats(stats_file)


def profile_scenarios(
    scenarios: list[Scenario],
    env: dict[str, str],
    port: int,
    workdir: Path,
    seconds: int,
    args: Any,
) -> dict[str, Any]:
    """Each scenario (whose port is replaced by the profiled server's) for ``seconds`` under
    wrk, profiled: its top functions by own time and its time by place."""
    log = workdir / "hot-path.log"
    profiles: dict[str, Any] = {}
    serving = {**env, "WORKERS": "1"}
    for scenario in scenarios:
        stats_file = workdir / f"{scenario.name}.pstats"
        command = [sys.executable, "-m", "benchmarks.hot_path", "serve", str(port), str(stats_file)]
        with running(command, serving, log) as server:
            wait_ready(server, port, "/healthz", log)
            aimed = replace(scenario, port=port)
            run_wrk(aimed, 1, args)  # warm the caches before counting
            os.kill(server.pid, signal.SIGUSR1)
            wrk = run_wrk(aimed, seconds, args)
            os.kill(server.pid, signal.SIGUSR2)
            wait_for_file(stats_file)
        profiles[scenario.name] = summary(pstats.Stats(str(stats_file)), wrk["requests"])
    return profiles


def wait_for_file(path: Path, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and path.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)


def summary(stats: pstats.Stats, requests: int) -> dict[str, Any]:
    """Own time per request by place (sanic, server.http, ...) and the top functions."""
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values()) or 1e-9
    by_place: dict[str, float] = {}
    functions = []
    for (file, line, name), (_calls, ncalls, own, cumulative, _callers) in entries.items():
        place = place_of(file)
        by_place[place] = by_place.get(place, 0.0) + own
        functions.append((own, cumulative, ncalls, f"{short(file)}:{line}({name})"))
    functions.sort(reverse=True)
    per_request = 1e6 / max(requests, 1)
    return {
        "requests": requests,
        "profiled_us_per_request": total * per_request,
        "share_by_place": {
            place: round(own / total, 4)
            for place, own in sorted(by_place.items(), key=lambda item: -item[1])
        },
        "top_functions": [
            {
                "function": where,
                "share": round(own / total, 4),
                "us_per_request": round(own * per_request, 2),
                "calls_per_request": round(calls / max(requests, 1), 2),
            }
            for own, _cumulative, calls, where in functions[:TOP]
        ],
    }


def place_of(file: str) -> str:
    if file == "~":
        return "builtins"
    if "/" not in file:  # Sanic compiles its request cycle under bare names
        return "sanic"
    for marker, place in PLACES:
        if marker in file:
            return place
    return "server (other)" if "/server/" in file else "other"


def short(file: str) -> str:
    for marker in ("site-packages/", "/work/", "lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def print_profiles(profiles: dict[str, Any]) -> None:
    for name, profile in profiles.items():
        print(
            f"\nprofile of {name}: {profile['profiled_us_per_request']:.0f} us a request "
            "under cProfile; own time by place:"
        )
        print("  " + ", ".join(f"{p} {s:.0%}" for p, s in profile["share_by_place"].items()))
        for entry in profile["top_functions"]:
            print(
                f"  {entry['share']:6.1%} {entry['us_per_request']:7.1f} us "
                f"x{entry['calls_per_request']:<5} {entry['function']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("serve", help="the profiled server (started by benchmarks)")
    server.add_argument("port", type=int)
    server.add_argument("stats_file", type=Path)
    args = parser.parse_args()
    serve(args.port, args.stats_file)


if __name__ == "__main__":
    main()
