"""What a test needs from the machine, and what happens when it is missing.

One rule for every tool and service outside the Python environment (nginx, chromium,
redis-server, PostgreSQL's ``initdb``, a reachable Redis, moto's S3 server):

- locally a missing one **skips** the test, saying what is missing and how to get it;
- under ``CI=true`` (set by ``.ci/run`` and by every CI service) it **fails** the test, so a
  CI machine that lost a tool cannot pass by skipping.

PostgreSQL for the suite's second engine keeps its own switch, ``REQUIRE_POSTGRES=1``
(``tests/conftest.py``), since a developer may run everything but PostgreSQL under CI=true.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI") == "true"
DAEMON_DIRS = ("/usr/sbin", "/sbin")  # Debian installs nginx here, off a user's PATH


def unavailable(
    what: str, why: str, *, required: bool = IN_CI, switch: str = "CI=true"
) -> NoReturn:
    """Skip the test here, or fail it when ``required`` (under ``switch``)."""
    if required:
        pytest.fail(f"{what} is required under {switch}: {why}")
    pytest.skip(f"{what}: {why} ({switch} makes this a failure)")


def require_tool(name: str, why: str) -> str:
    """The path of the program ``name`` (a command on PATH or in /usr/sbin, or a path);
    otherwise skip, or fail under CI=true. ``why`` says how to install it."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *DAEMON_DIRS])
    found = shutil.which(name, path=search)
    if found is None:
        unavailable(Path(name).name, f"not installed here; {why}")
    return found
