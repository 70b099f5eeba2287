"""Argon2id password hashes, verified off the event loop (a check costs tens of milliseconds)."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return _hasher.hash("decoy password for unknown accounts")


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; an unknown account costs the same time as a known one."""
    target = password_hash or _decoy_hash()
    loop = asyncio.get_running_loop()
    matches = await loop.run_in_executor(None, _verify, target, password)
    return matches and password_hash is not None


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
