"""The encoded-body cache: built once per key, bounded in bytes, oldest use evicted first."""

from __future__ import annotations

import asyncio
import gzip

from server.http.representations import RepresentationCache

PAGE = (
    b'{"jobs": ['
    + b'{"customerName": "\xe0\xb8\xaa\xe0\xb8\xa1\xe0\xb8\x8a\xe0\xb8\xb2\xe0\xb8\xa2"},' * 200
    + b"{}]}"
)


async def test_concurrent_misses_build_once_and_each_encoding_reuses_the_json() -> None:
    cache = RepresentationCache()
    builds = 0

    async def build() -> bytes:
        nonlocal builds
        builds += 1
        await asyncio.sleep(0.01)
        return PAGE

    answers = await asyncio.gather(*(cache.get_or_build("k", "gzip", build) for _ in range(10)))
    assert builds == 1
    assert {a[0] for a in answers} == {"gzip"}
    assert gzip.decompress(answers[0][1]) == PAGE
    encoding, body = await cache.get_or_build("k", "br", build)
    assert builds == 1 and encoding == "br" and len(body) < len(PAGE)


async def test_the_byte_budget_evicts_the_least_recently_used() -> None:
    cache = RepresentationCache(local_bytes=len(PAGE) * 5 // 2)  # room for two pages
    built: list[str] = []

    def builder(key: str):  # type: ignore[no-untyped-def]
        async def build() -> bytes:
            built.append(key)
            return PAGE

        return build

    for key in ("a", "b"):
        await cache.get_or_build(key, "identity", builder(key))
    await cache.get_or_build("a", "identity", builder("a"))  # a is now the most recent
    await cache.get_or_build("c", "identity", builder("c"))  # over budget: b goes
    await cache.get_or_build("a", "identity", builder("a"))
    await cache.get_or_build("b", "identity", builder("b"))
    assert built == ["a", "b", "c", "b"]
