"""Argon2id password hashes, verified off the event loop (a check costs tens of milliseconds)."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_off_loop(password: str) -> str:
    """:func:`hash_password` in the executor: hashing costs as much as a check."""
    return await asyncio.get_running_loop().run_in_executor(None, hash_password, password)


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return _hasher.hash("decoy password for unknown accounts")


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; an unknown account, or one with no password yet (an
    empty hash: invited, not set), costs the same time as a known one and never matches."""
    target = password_hash or _decoy_hash()
    loop = asyncio.get_running_loop()
    matches = await loop.run_in_executor(None, _verify, target, password)
    return matches and bool(password_hash)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
