"""Render the reference nginx edge: ``python -m cdn.edge --upstream 127.0.0.1:8000
--upstream 127.0.0.1:8001 --listen 8080 --run-dir var/edge > var/edge/nginx.conf``, then
``nginx -c $PWD/var/edge/nginx.conf``. The renderer itself is ``server.cluster.edge``."""

from __future__ import annotations

import argparse
from pathlib import Path

from server.cluster.edge import render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", action="append", required=True, help="host:port of an app")
    parser.add_argument("--listen", default="8080")
    parser.add_argument("--run-dir", type=Path, default=Path("var/edge"))
    args = parser.parse_args()
    print(render(args.upstream, args.listen, args.run_dir))


if __name__ == "__main__":
    main()
