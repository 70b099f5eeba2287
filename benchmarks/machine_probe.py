"""What the machine itself gives while a benchmark runs, to read its figures against: how
late a sleeping process wakes (the CPUs' queue: on a shared machine, the neighbours' load)
and how long PostgreSQL takes to commit one row (the disk's flush and the server's own
queue), both sampled twice a second beside the load, in a thread of their own; and how many
of the database's sessions wait for a one-key advisory lock at each sample (writers no
longer wait for the change log's: this now counts only a drill or maintenance holding it)."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg

INTERVAL_S = 0.5
NAP_S = 0.01
PROBE_TABLE = "bench_commit_probe"
# One-key advisory locks (objsubid 1): the change log's; a user's sync lock has two keys.
LOCK_WAITERS = """
SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
WHERE d.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted
  AND l.objsubid = 1
"""


@dataclass
class Samples:
    wake_delay_ms: list[float] = field(default_factory=list)
    commit_ms: list[float] = field(default_factory=list)
    lock_waiters: list[int] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile, None with no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class MachineProbe:
    """``with MachineProbe(database_url) as probe:`` samples until the block ends;
    ``probe.summary()`` then gives p50/p99 of each."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.samples = Samples()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="machine-probe", daemon=True)

    def __enter__(self) -> MachineProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.run(self._sample())

    async def _sample(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (at timestamptz)")
            while not self._stop.wait(INTERVAL_S):
                started = time.perf_counter()
                await asyncio.sleep(NAP_S)
                woke = time.perf_counter()
                self.samples.wake_delay_ms.append((woke - started - NAP_S) * 1000)
                await conn.execute(f"INSERT INTO {PROBE_TABLE} VALUES (now())")  # autocommit
                self.samples.commit_ms.append((time.perf_counter() - woke) * 1000)
                self.samples.lock_waiters.append(await conn.fetchval(LOCK_WAITERS))
            await conn.execute(f"DROP TABLE {PROBE_TABLE}")
        finally:
            await conn.close()

    def summary(self) -> dict[str, Any]:
        wake, commit = self.samples.wake_delay_ms, self.samples.commit_ms
        waiters = self.samples.lock_waiters
        return {
            "samples": len(commit),
            "wake_delay_p50_ms": percentile(wake, 50),
            "wake_delay_p99_ms": percentile(wake, 99),
            "commit_p50_ms": percentile(commit, 50),
            "commit_p99_ms": percentile(commit, 99),
            "advisory_lock_waiters_mean": sum(waiters) / len(waiters) if waiters else None,
            "advisory_lock_waiters_max": max(waiters, default=None),
        }
