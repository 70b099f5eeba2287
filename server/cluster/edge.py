"""The reference edge: nginx rendered from ``cdn/edge/nginx.conf.j2`` (what a CDN in front of
the instances does) and run in the foreground in front of app processes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from server.cluster.processes import REPO_ROOT

TEMPLATE = REPO_ROOT / "cdn" / "edge" / "nginx.conf.j2"
WORK_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "cache")
DEBIAN_NGINX = Path("/usr/sbin/nginx")  # not on PATH for every user


def find_nginx() -> str | None:
    """nginx's path, or None when it is not installed."""
    return shutil.which("nginx") or (str(DEBIAN_NGINX) if DEBIAN_NGINX.exists() else None)


def render(upstreams: list[str], listen: str, run_dir: Path) -> str:
    """The configuration text; creates ``run_dir`` and the folders nginx writes to."""
    for name in WORK_DIRS:
        (run_dir / name).mkdir(parents=True, exist_ok=True)
    env = Environment(loader=FileSystemLoader(TEMPLATE.parent), undefined=StrictUndefined)
    return env.get_template(TEMPLATE.name).render(
        upstreams=upstreams, listen=listen, run_dir=run_dir.resolve()
    )


def start_edge(
    binary: str, upstreams: list[str], listen: str, run_dir: Path
) -> subprocess.Popen[bytes]:
    """nginx in front of ``upstreams`` (``host:port``), listening on ``listen``, with its
    configuration and ``error.log`` in ``run_dir``; in the foreground in its own process
    group. As root its workers stay root so they can write ``run_dir``."""
    run_dir = run_dir.resolve()
    conf = run_dir / "nginx.conf"
    conf.write_text(render(upstreams, listen, run_dir))
    as_root = ["-g", "user root;"] if os.geteuid() == 0 else []
    return subprocess.Popen(
        [binary, "-c", str(conf), "-e", str(run_dir / "error.log"), *as_root],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
