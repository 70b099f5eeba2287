"""Encoded response bodies, cached by validator until the data they show changes.

A key names a validator (for the feed: scope, feed version and query), so entries never need
invalidating: a change raises the version and new requests ask for a new key. Two tiers: a
per-worker LRU in memory, and optionally a shared aiocache Redis cache so one worker's work
serves the others. Concurrent requests for the same missing body build it once.

When Redis fails or is slow, the worker serves from its own tier alone until Redis answers
again (see :mod:`server.core.shared_store`): a cache is never a reason to fail a request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiocache import Cache
from aiocache.serializers import NullSerializer

from server.core.shared_store import LOCAL, SharedStore, StoreUnavailable
from server.http.negotiation import IDENTITY, Encoded, encode

LOCAL_BYTES = 64 * 1024 * 1024
SHARED_TTL_SECONDS = 600
PROBE_KEY = "tinedy:probe"


class RepresentationCache:
    def __init__(self, shared: Any | None = None, local_bytes: int = LOCAL_BYTES) -> None:
        self._local: OrderedDict[str, Encoded] = OrderedDict()
        self._local_budget = local_bytes
        self._local_size = 0
        self._shared = shared
        self._shared_store = SharedStore("feed cache")
        self._building: dict[str, asyncio.Future[Encoded]] = {}

    @classmethod
    def from_url(cls, url: str) -> RepresentationCache:
        if url.startswith("redis://"):
            shared = Cache.from_url(url)
            shared.serializer = NullSerializer(encoding=None)  # bodies are bytes: no decoding
            return cls(shared)
        return cls()

    @property
    def status(self) -> str:
        """For /readyz: ``local`` (no shared tier), ``ok``, or ``degraded: <why>``."""
        return LOCAL if self._shared is None else self._shared_store.status

    async def probe(self) -> str:
        """Try the shared tier now (it may have come back), then say how it stands."""
        shared = self._shared
        if shared is not None:
            with contextlib.suppress(StoreUnavailable):
                await self._shared_store.run(lambda: shared.exists(PROBE_KEY))
        return self.status

    async def close(self) -> None:
        if self._shared is not None:
            await self._shared.close()

    async def get_or_build(
        self, key: str, encoding: str, build: Callable[[], Awaitable[bytes]]
    ) -> Encoded:
        """The body for ``key`` in ``encoding``, built (as identity JSON) only on a miss."""
        wanted = f"{key}:{encoding}"
        found = self._local_get(wanted)
        if found is not None:
            return found
        pending = self._building.get(wanted)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Encoded] = asyncio.get_running_loop().create_future()
        self._building[wanted] = future
        try:
            encoded = await self._fetch_or_build(key, encoding, build)
            future.set_result(encoded)
            return encoded
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # marked as seen: waiters re-raise it, none goes unobserved
            raise
        finally:
            del self._building[wanted]

    async def _fetch_or_build(
        self, key: str, encoding: str, build: Callable[[], Awaitable[bytes]]
    ) -> Encoded:
        wanted = f"{key}:{encoding}"
        encoded = await self._shared_get(wanted)
        if encoded is None:
            encoded = encode(await self._identity(key, build), encoding)
            await self._store(wanted, encoded)
        self._local_put(wanted, encoded)
        return encoded

    async def _identity(self, key: str, build: Callable[[], Awaitable[bytes]]) -> bytes:
        name = f"{key}:{IDENTITY}"
        found = self._local_get(name) or await self._shared_get(name)
        if found is not None:
            return found[1]
        body = await build()
        await self._store(name, (IDENTITY, body))
        return body

    def _local_get(self, key: str) -> Encoded | None:
        found = self._local.get(key)
        if found is not None:
            self._local.move_to_end(key)
        return found

    def _local_put(self, key: str, encoded: Encoded) -> None:
        """Least recently used entries go first once the byte budget is spent."""
        previous = self._local.pop(key, None)
        if previous is not None:
            self._local_size -= len(previous[1])
        self._local[key] = encoded
        self._local_size += len(encoded[1])
        while self._local_size > self._local_budget and len(self._local) > 1:
            _, evicted = self._local.popitem(last=False)
            self._local_size -= len(evicted[1])

    async def _shared_get(self, key: str) -> Encoded | None:
        shared = self._shared
        if shared is None:
            return None
        try:
            raw: bytes | None = await self._shared_store.run(lambda: shared.get(key))
        except StoreUnavailable:
            return None
        if raw is None:
            return None
        encoding, _, body = raw.partition(b"\n")
        return encoding.decode(), body

    async def _store(self, key: str, encoded: Encoded) -> None:
        self._local_put(key, encoded)
        shared = self._shared
        if shared is not None:
            raw = encoded[0].encode() + b"\n" + encoded[1]
            with contextlib.suppress(StoreUnavailable):
                await self._shared_store.run(lambda: shared.set(key, raw, ttl=SHARED_TTL_SECONDS))
