"""``python -m server.cluster`` (``make cluster``): migrates the database, loads the demo,
starts nginx in front of the instances, prints the URL and runs in the foreground until Ctrl-C
or SIGTERM, which stops every process it started. See ``server.cluster.layout``."""

from __future__ import annotations

import argparse
import signal
import subprocess
import time
from pathlib import Path
from types import FrameType

from server.cluster.layout import Cluster, ClusterConfig, running_cluster


def parse_args() -> ClusterConfig:
    parser = argparse.ArgumentParser(prog="python -m server.cluster", description=__doc__)
    defaults = ClusterConfig()
    parser.add_argument("--database-url", default=defaults.database_url)
    parser.add_argument("--redis-url", default=defaults.redis_url)
    parser.add_argument("--instances", type=int, default=defaults.instances)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--port", type=int, default=defaults.listen_port, help="nginx's port")
    parser.add_argument("--first-app-port", type=int, default=defaults.first_app_port)
    parser.add_argument("--run-dir", type=Path, default=defaults.run_dir)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    args = parser.parse_args()
    return ClusterConfig(
        database_url=args.database_url,
        redis_url=args.redis_url,
        instances=args.instances,
        workers=args.workers,
        listen_port=args.port,
        first_app_port=args.first_app_port,
        run_dir=args.run_dir,
        fresh=args.fresh,
    )


def announce(cluster: Cluster) -> None:
    print(f"\nTinedy cluster on {cluster.url}  (Ctrl-C stops everything)")
    for instance in cluster.instances:
        print(f"  {instance.name}: {instance.url}, pid {instance.process.pid}, log {instance.log}")
    if cluster.edge is not None:
        print(f"  nginx: pid {cluster.edge.pid}, log {cluster.edge_log}")
    print("  demo logins (password demo1234): admin@demo.local, dispatcher@demo.local,")
    print("  staff1@demo.local ... staff20@demo.local", flush=True)


def watch(cluster: Cluster, edge: subprocess.Popen[bytes]) -> None:
    """Until stopped: say when an instance dies (nginx routes around it, so the cluster goes
    on), and end when nginx itself does."""
    reported: set[str] = set()
    while edge.poll() is None:
        for instance in cluster.instances:
            code = instance.process.poll()
            if code is not None and instance.name not in reported:
                reported.add(instance.name)
                print(f"! {instance.name} exited with {code}; see {instance.log}", flush=True)
        time.sleep(1)
    print(f"! nginx exited with {edge.returncode}; see {cluster.edge_log}", flush=True)


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the cluster as Ctrl-C does: through the same clean-up."""
    raise KeyboardInterrupt


def main() -> None:
    config = parse_args()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        with running_cluster(config) as cluster:
            announce(cluster)
            assert cluster.edge is not None  # the command line always starts the edge
            watch(cluster, cluster.edge)
    except KeyboardInterrupt:
        print("\nstopped the cluster", flush=True)
        return
    except (RuntimeError, subprocess.SubprocessError) as exc:
        raise SystemExit(f"cluster failed: {exc}") from exc
    raise SystemExit(1)  # nginx died: everything else was stopped with it


if __name__ == "__main__":
    main()
