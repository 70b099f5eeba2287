"""The command line refuses what it should, loudly, and never prints a password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_refuses_to_start_without_its_database(tmp_path: Path) -> None:
    result = run_cli(
        "run",
        DATABASE_URL="postgres://app:hunter2@127.0.0.1:1/tinedy",
        DATA_DIR=str(tmp_path),
        PORT="0",
    )
    assert result.returncode == 1
    assert "postgres://127.0.0.1:1/tinedy is unreachable" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_seed_demo_needs_demo_mode(tmp_path: Path) -> None:
    result = run_cli(
        "seed-demo", DEMO="false", DATA_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/x"
    )
    assert result.returncode == 2
    assert "DEMO=1" in result.stderr
