"""The command line refuses what it should, loudly, and never prints a password; its
retention commands run the schedule's jobs by hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.db.tables import AuditEvent, ScheduledRun
from tests.servers import start_instance, tail
from tests.world import World

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


STOP_WITHIN_SECONDS = 30  # a stop waits for work in hand; an idle instance takes a second


async def test_run_stops_on_sigterm_even_just_after_it_started(
    database_url: str, world: World, tmp_path: Path
) -> None:
    """A supervisor may stop an instance the moment it is up (a deploy rolled back): it must
    exit, not linger. Sanic's manager used to spin for ever on a stop that came while it
    waited for its workers to say they started (see ``server/http/worker_manager.py``)."""
    process, _ = await start_instance(
        database_url,
        tmp_path / "data",
        tmp_path / "server.log",
        {"PHOTO_PROCESSING_WORKERS": "1", "PUSH_SENDERS": "1"},
    )
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_WITHIN_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(
            f"still running {STOP_WITHIN_SECONDS} s after SIGTERM: {tail(tmp_path / 'server.log')}"
        )
    assert code == 0


async def test_purge_audit_drops_expired_events_and_counts_as_the_jobs_success(
    database_url: str, world: World, tmp_path: Path
) -> None:
    """With the schedule off on every instance, cron runs the purges: ``purge-audit`` drops
    what AUDIT_RETENTION_DAYS no longer keeps, is audited, and its success is the job's on
    ``scheduled_run`` (what /metrics reads)."""
    marker = f"cli-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    events = [
        AuditEvent(occurred_at=now - timedelta(days=days), actor_kind="system", action=marker)
        for days in (31, 29)
    ]
    await AuditEvent.insert(*events).run()
    try:
        result = run_cli(
            "purge-audit",
            DATABASE_URL=database_url,
            DATA_DIR=str(tmp_path),
            AUDIT_RETENTION_DAYS="30",
        )
        assert result.returncode == 0, result.stderr
        kept = await AuditEvent.select(AuditEvent.occurred_at).where(AuditEvent.action == marker)
        purges = (
            await AuditEvent.select(AuditEvent.detail)
            .where(AuditEvent.action == "retention.purge-audit")
            .output(load_json=True)
        )
        run = (
            await ScheduledRun.select()
            .where(ScheduledRun.name == "purge-audit")
            .output(load_json=True)
            .first()
        )
    finally:
        await ScheduledRun.delete().where(ScheduledRun.name == "purge-audit")
    assert "those over 30 days old" in result.stdout
    assert [row["occurred_at"].astimezone(UTC) for row in kept] == [events[1].occurred_at]
    assert any(p["detail"]["dropped"] >= 1 and p["detail"]["days"] == 30 for p in purges)
    assert run is not None and run["failures"] == 0
    assert run["last_success_at"] >= now and run["last_result"]["ok"] is True
