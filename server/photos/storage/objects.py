"""The interface every object store speaks, and the one rule for keys they all share.

A key is slash-separated segments of letters, digits, ``.``, ``_`` and ``-``, none starting
with a dot: the same key is then a safe relative path on disk (no ``..``, no absolute path,
no hidden temp-file names) and a plain S3 key, so both backends accept exactly the same keys.
"""

from __future__ import annotations

import re
from typing import Protocol

KEY_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
MAX_KEY_LENGTH = 512


class InvalidObjectKey(ValueError):
    """A key that could leave the store's root or mean different things to each backend."""


class ObjectStore(Protocol):
    """Bytes by key. Writes are whole or absent; reads of a missing key give None."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Idempotent: deleting a missing key is not an error."""

    async def download_url(self, key: str, seconds: int, cache_control: str) -> str | None:
        """Where a client fetches the object itself for ``seconds`` (a presigned URL, served
        with ``cache_control``); None when the app must serve the bytes."""

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""


class DirectUploads(Protocol):
    """A store the phone uploads to itself (S3's presigned URLs): the bytes skip the app."""

    async def upload_url(self, key: str, content_type: str, seconds: int) -> str: ...

    async def head(self, key: str) -> tuple[int, str] | None: ...

    async def read_start(self, key: str, size: int) -> tuple[bytes, int] | None: ...

    async def move(self, source: str, target: str) -> None: ...

    async def delete(self, key: str) -> None: ...


def checked_key(key: str) -> str:
    """``key`` when it follows the key rule; InvalidObjectKey otherwise."""
    segments = key.split("/")
    if len(key) > MAX_KEY_LENGTH or not all(KEY_SEGMENT.fullmatch(part) for part in segments):
        raise InvalidObjectKey(f"invalid object key: {key!r}")
    return key
