"""A shared store's health: a failure sends callers to their stand-in for a while, with
one warning; the first success after that puts the store back, with one more."""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.core.shared_store import SharedStore, StoreUnavailable


async def refused() -> int:
    raise ConnectionError("Connection refused")


async def answers() -> int:
    return 7


async def hangs() -> int:
    await asyncio.sleep(60)
    return 0


async def test_a_failure_rests_the_store_then_it_is_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = SharedStore("cache", retry_seconds=0.2)
    with caplog.at_level(logging.WARNING, logger="tinedy.shared_store"):
        for _ in range(5):
            with pytest.raises(StoreUnavailable):
                await store.run(refused)
        assert store.status == "degraded: Connection refused"
        with pytest.raises(StoreUnavailable):
            await store.run(answers)  # resting: not even tried
        await asyncio.sleep(0.25)
        assert await store.run(answers) == 7
    assert store.status == "ok"
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, "one warning when it fails, one when it is back"
    assert "cache: the shared store failed" in messages[0]
    assert "cache: the shared store answers again" in messages[1]


async def test_a_store_that_hangs_is_given_up_on_quickly() -> None:
    store = SharedStore("throttle")
    started = asyncio.get_running_loop().time()
    with pytest.raises(StoreUnavailable):
        await store.run(hangs)
    assert asyncio.get_running_loop().time() - started < 5, "no request waits on a dead store"
    assert store.status == "degraded: TimeoutError"
