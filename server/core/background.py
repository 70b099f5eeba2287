"""Work in the background, written once: how long to wait after failures (:func:`backoff_delay`,
:class:`Backoff`), a loop that does a step every few seconds or at once when woken
(:class:`PollingLoop`), the rules of a queue whose rows are claimed under a lease
(:class:`LeasePolicy`), and a process of its own beside the HTTP workers
(:func:`keep_running`, :func:`run_in_background`).

Users: the change mirror and the LISTEN wake-up (``changes/``), photo processing
(``photos/worker.py``) and push sending (``push/worker.py``).

Background processes (photo processing, push sending): Sanic starts a supervisor per process,
which keeps one ``python -m server <command>`` running with the same environment, starts
another when one dies (a decoder crash, the kernel's OOM killer), pausing longer each time it
dies young, and stops it on SIGTERM. Separate processes keep CPU-heavy work (image decoding,
payload encryption) off the event loops that answer requests, and let the kernel run it at a
lower priority.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

log = logging.getLogger("tinedy.supervision")

RESTART_PAUSE_SECONDS = 1.0
LONGEST_RESTART_PAUSE = 30.0
YOUNG_SECONDS = 60.0
LONGEST_RETRY_SECONDS = 600.0


def backoff_delay(attempt: int, first: float, longest: float) -> float:
    """The wait after the ``attempt``-th failure in a row: ``first``, doubling, at most
    ``longest``. Any count is fine: a long outage's thousandth failure waits ``longest``."""
    doublings = min(max(attempt, 1) - 1, 64)  # 2.0 ** 1024 would overflow
    return min(first * 2.0**doublings, longest)


class Backoff:
    """Failures in a row, and the wait each one calls for (see :func:`backoff_delay`)."""

    def __init__(self, first: float, longest: float) -> None:
        self.first = first
        self.longest = longest
        self.failures = 0

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def failed(self) -> float:
        """Count a failure; the wait before the next try."""
        self.failures += 1
        return backoff_delay(self.failures, self.first, self.longest)

    def succeeded(self) -> bool:
        """Start over; whether it had been failing (an outage just ended)."""
        was_failing = self.failing
        self.failures = 0
        return was_failing


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed try is tried again, and when to give up: ``first_seconds`` after the
    first failure, doubling, at most ``longest_seconds``; no more after ``max_attempts``."""

    max_attempts: int
    first_seconds: float
    longest_seconds: float = LONGEST_RETRY_SECONDS

    def gives_up(self, attempts: int) -> bool:
        return attempts >= self.max_attempts

    def delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=backoff_delay(attempts, self.first_seconds, self.longest_seconds))

    def next_attempt_at(self, attempts: int, now: datetime) -> datetime:
        return now + self.delay(attempts)


@dataclass(frozen=True)
class LeasePolicy:
    """The rules of a queue whose rows are claimed under a lease (photos, push deliveries);
    the queries stay in each domain's ``queries.py``. A claim holds a row until
    :meth:`lease_until`; a worker that dies lets it lapse and another takes the row up. A
    failed try is retried by ``retries``; a claim that lapsed counts as a try."""

    lease: timedelta
    retries: RetryPolicy

    def lease_until(self, now: datetime) -> datetime:
        return now + self.lease

    def due_if_lapsed(self, now: datetime) -> datetime:
        """When a row claimed at ``now`` is due again should its lease lapse: the first
        retry's wait after the lease ends."""
        return self.lease_until(now) + self.retries.delay(1)

    def tries_used_up(self, attempts: int) -> bool:
        """At a claim (``attempts`` counts it): every earlier try ended without settling
        (its worker kept dying on the row), as many as ``max_attempts``."""
        return self.retries.gives_up(attempts - 1)


class PollingLoop:
    """A task that runs ``step`` every ``every`` seconds, and at once when woken. When a step
    returns True there may be more to do, and it runs again straight away. While steps fail
    (the database is down) it says so once per outage, at ``level``, not once per try, and
    with ``longest`` waits longer between tries (twice ``every`` at first, doubling, up to
    ``longest`` or ``every``, whichever is longer; without it, ``every``); a wake-up still
    tries at once."""

    def __init__(
        self,
        name: str,
        step: Callable[[], Awaitable[bool | None]],
        every: float,
        *,
        logger: logging.Logger,
        doing: str,
        longest: float | None = None,
        traceback: bool = False,
        level: int = logging.WARNING,
        recovered: Callable[[], str] | None = None,
    ) -> None:
        """``doing`` names the step in the log ("reading the change log"); ``recovered``
        says what the first step that works again did (default: "<doing> again")."""
        self.name = name
        self._step = step
        self._every = every
        self._backoff = (
            Backoff(every * 2, max(longest, every)) if longest else Backoff(every, every)
        )
        self._log = logger
        self._doing = doing
        self._traceback = traceback
        self._level = level
        self._recovered = recovered or (lambda: f"{doing} again")
        self._woken = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stopping = False

    def start(self) -> None:
        self.stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Run the step now rather than at the next poll."""
        self._woken.set()

    async def stop(self, grace: float = 0) -> None:
        """Stop: let a step in hand finish within ``grace`` seconds (a task cancelled inside a
        transaction can strand its pool connection), then cancel it."""
        task, self._task = self._task, None
        if task is None:
            return
        self.stopping = True
        self._woken.set()
        if grace > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), grace)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while not self.stopping:
            self._woken.clear()
            try:
                more = await self._step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._warn_once(exc)
                wait = self._backoff.failed()
            else:
                if self._backoff.succeeded():
                    self._log.log(self._level, "%s", self._recovered())
                if more:
                    continue
                wait = self._every
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), wait)

    def _warn_once(self, exc: Exception) -> None:
        """The first failure of an outage is told; the tries after it, until one works, not."""
        if not self._backoff.failing:
            exc_info = exc if self._traceback else None
            self._log.log(
                self._level, "%s failed (%r); retrying", self._doing, exc, exc_info=exc_info
            )


def keep_running(command: str) -> None:
    """Run ``python -m server <command>`` until SIGTERM or SIGINT, restarting it when it dies:
    a second after a long life, then twice as long for each young death in a row."""
    stopping = threading.Event()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stopping.set())
    young_deaths = 0
    while not stopping.is_set():
        child = subprocess.Popen([sys.executable, "-m", "server", command])
        started = time.monotonic()
        while child.poll() is None and not stopping.is_set():
            stopping.wait(0.5)
        if stopping.is_set():
            _end(child)
            return
        young = time.monotonic() - started <= YOUNG_SECONDS
        young_deaths = young_deaths + 1 if young else 0
        pause = restart_pause(young_deaths)
        log.warning("%s exited (%s); another in %.0f s", command, child.returncode, pause)
        stopping.wait(pause)


def restart_pause(young_deaths: int) -> float:
    """The pause before a new process, after ``young_deaths`` in a row (0: it lived long)."""
    return backoff_delay(young_deaths + 1, RESTART_PAUSE_SECONDS, LONGEST_RESTART_PAUSE)


def _end(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()


def run_in_background(work: Callable[[], AbstractAsyncContextManager[object]], nice: int) -> None:
    """A background process's whole life (``python -m server <command>``): at a lower CPU
    priority (when cores are short, answering requests comes first), enter ``work`` (it
    starts its loops), wait for SIGTERM or SIGINT, then leave it (it stops them)."""
    os.nice(nice)
    asyncio.run(_work_until_stopped(work))


async def _work_until_stopped(work: Callable[[], AbstractAsyncContextManager[object]]) -> None:
    async with work():
        await until_stopped()


async def until_stopped() -> None:
    """In a background process: return on SIGTERM or SIGINT (then it stops its work)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stopping.set)
    await stopping.wait()
