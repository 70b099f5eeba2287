"""Argon2id password hashes, computed in a small pool of their own.

A check costs tens of milliseconds and 64 MiB, and sign-in is open to anyone: in the event
loop's default executor a login flood would starve photo checks and local photo I/O, and
each waiting check would wait there unbounded. Here hashing has ``PASSWORD_HASH_THREADS``
threads (at most that many times 64 MiB at once) and at most ``PASSWORD_HASH_QUEUE`` checks
waiting; past that the caller is refused at once (503 with ``Retry-After``) rather than
queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.errors import PasswordChecksBusy

DEMO_PASSWORD = "demo1234"
"""Every demo account's password (public: refused outside demo mode)."""
_hasher = PasswordHasher()
T = TypeVar("T")


class PasswordPool:
    """A bounded executor for hashing: ``threads`` at work, at most ``queue`` waiting."""

    def __init__(self, threads: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="argon2")
        self._capacity = threads + queue
        self.in_use = 0  # touched only from the event loop's thread

    async def run(self, work: Callable[..., T], *args: str) -> T:
        if self.in_use >= self._capacity:
            raise PasswordChecksBusy()
        self.in_use += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        finally:
            self.in_use -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_pool = PasswordPool(threads=2, queue=64)


def configure_pool(threads: int, queue: int) -> None:
    """Size this process's pool (the app factory calls it with the settings)."""
    global _pool
    _pool.close()
    _pool = PasswordPool(threads, queue)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_off_loop(password: str) -> str:
    """:func:`hash_password` in the password pool: hashing costs as much as a check."""
    return await _pool.run(hash_password, password)


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return _hasher.hash("decoy password for unknown accounts")


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; an unknown account, or one with no password yet (an
    empty hash: invited, not set), costs the same time as a known one and never matches."""
    target = password_hash or _decoy_hash()
    matches = await _pool.run(_verify, target, password)
    return matches and bool(password_hash)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
