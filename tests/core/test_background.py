"""The background primitive: how long failures wait, a polling loop that wakes, warns once
per outage and stops, and a lease queue's retry rules."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from server.core.background import (
    Backoff,
    LeasePolicy,
    PollingLoop,
    RetryPolicy,
    backoff_delay,
    restart_pause,
)

log = logging.getLogger("tests.background")
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def test_the_wait_doubles_from_the_first_up_to_the_longest() -> None:
    assert [backoff_delay(n, 5, 600) for n in range(1, 10)] == [
        5,
        10,
        20,
        40,
        80,
        160,
        320,
        600,
        600,
    ]
    assert backoff_delay(5000, 1, 8) == 8, "a long outage's count does not overflow"


def test_a_process_that_keeps_dying_young_is_restarted_less_and_less_often() -> None:
    assert [restart_pause(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_a_backoff_counts_failures_in_a_row_and_says_when_an_outage_ends() -> None:
    backoff = Backoff(1, 8)
    assert not backoff.succeeded(), "no outage to end"
    assert [backoff.failed() for _ in range(5)] == [1, 2, 4, 8, 8]
    assert backoff.failing
    assert backoff.succeeded()
    assert not backoff.failing
    assert backoff.failed() == 1, "a new outage starts from the first wait"


def test_a_lease_queue_retries_with_backoff_and_gives_up_after_max_attempts() -> None:
    queue = LeasePolicy(timedelta(seconds=60), RetryPolicy(3, 5))
    assert queue.lease_until(NOW) == NOW + timedelta(seconds=60)
    assert queue.due_if_lapsed(NOW) == NOW + timedelta(seconds=65)
    assert queue.retries.next_attempt_at(1, NOW) == NOW + timedelta(seconds=5)
    assert queue.retries.next_attempt_at(2, NOW) == NOW + timedelta(seconds=10)
    assert [queue.retries.gives_up(n) for n in (1, 2, 3)] == [False, False, True]
    assert not queue.tries_used_up(3), "the third claim is the third try"
    assert queue.tries_used_up(4), "three claims lapsed before this one"


class Steps:
    """A step that counts its runs and fails while ``failing``."""

    def __init__(self) -> None:
        self.runs: list[float] = []
        self.failing = False
        self.more = 0

    async def step(self) -> bool:
        self.runs.append(time.monotonic())
        if self.failing:
            raise ConnectionError("database away")
        if self.more:
            self.more -= 1
            return True
        return False


async def until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        await asyncio.sleep(0.005)


async def test_a_loop_runs_at_once_then_every_interval_and_at_once_when_woken() -> None:
    steps = Steps()
    loop = PollingLoop("test-loop", steps.step, 30, logger=log, doing="testing")
    loop.start()
    try:
        await until(lambda: len(steps.runs) == 1)
        await asyncio.sleep(0.05)
        assert len(steps.runs) == 1, "the next poll is 30 s away"
        woken_at = time.monotonic()
        loop.wake()
        await until(lambda: len(steps.runs) == 2)
        assert steps.runs[1] - woken_at < 0.5
    finally:
        await loop.stop()


async def test_a_step_with_more_to_do_runs_again_straight_away() -> None:
    steps = Steps()
    steps.more = 3
    loop = PollingLoop("test-loop", steps.step, 30, logger=log, doing="testing")
    loop.start()
    try:
        await until(lambda: len(steps.runs) == 4)
    finally:
        await loop.stop()


async def test_a_failing_step_backs_off_and_warns_once_per_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    steps = Steps()
    steps.failing = True
    loop = PollingLoop("test-loop", steps.step, 0.01, longest=0.08, logger=log, doing="testing")
    with caplog.at_level(logging.WARNING, logger=log.name):
        loop.start()
        try:
            await until(lambda: len(steps.runs) == 6)
            gaps = [b - a for a, b in zip(steps.runs, steps.runs[1:], strict=False)]
            assert gaps[0] >= 0.02, "twice the interval after the first failure"
            assert gaps[-1] >= 0.08, "then doubling up to the longest"
            steps.failing = False
            loop.wake()
            await until(lambda: len(steps.runs) == 7)
            await until(lambda: len(caplog.records) == 2)
            steps.failing = True
            loop.wake()
            await until(lambda: len(steps.runs) >= 9)
        finally:
            await loop.stop()
    assert [r.getMessage() for r in caplog.records] == [
        "testing failed (ConnectionError('database away')); retrying",
        "testing again",
        "testing failed (ConnectionError('database away')); retrying",
    ]


async def test_stop_ends_the_loop_and_may_let_the_step_in_hand_finish() -> None:
    finished: list[bool] = []

    async def slow_step() -> bool:
        await asyncio.sleep(0.1)
        finished.append(True)
        return False

    loop = PollingLoop("test-loop", slow_step, 30, logger=log, doing="testing")
    loop.start()
    await asyncio.sleep(0.02)
    await loop.stop()
    assert finished == [], "without grace the step in hand is cancelled"

    loop.start()
    await asyncio.sleep(0.02)
    await loop.stop(grace=5)
    assert finished == [True], "with grace it finishes, and the loop ends without waiting"
    assert loop.stopping
