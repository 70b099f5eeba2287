"""Render the reference nginx edge: ``python -m cdn.edge --upstream 127.0.0.1:8000
--upstream 127.0.0.1:8001 --listen 8080 --run-dir var/edge > var/edge/nginx.conf``, then
``nginx -c $PWD/var/edge/nginx.conf``."""

from __future__ import annotations

import argparse
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.j2"
WORK_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "cache")


def render(upstreams: list[str], listen: str, run_dir: Path) -> str:
    """The configuration text; creates ``run_dir`` and the folders nginx writes to."""
    for name in WORK_DIRS:
        (run_dir / name).mkdir(parents=True, exist_ok=True)
    env = Environment(loader=FileSystemLoader(TEMPLATE.parent), undefined=StrictUndefined)
    return env.get_template(TEMPLATE.name).render(
        upstreams=upstreams, listen=listen, run_dir=run_dir.resolve()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", action="append", required=True, help="host:port of an app")
    parser.add_argument("--listen", default="8080")
    parser.add_argument("--run-dir", type=Path, default=Path("var/edge"))
    args = parser.parse_args()
    print(render(args.upstream, args.listen, args.run_dir))


if __name__ == "__main__":
    main()
