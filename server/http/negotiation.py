"""Content-Encoding negotiation, compression and ETag matching.

Brotli is preferred, then gzip, then identity, each only when the client's Accept-Encoding
allows it (q=0 refuses). Bodies under ``MIN_COMPRESS_BYTES`` go out as they are: the framing
would cost more than it saves.
"""

from __future__ import annotations

import gzip
from functools import lru_cache

import brotli

from server.core.timing import encode_time

MIN_COMPRESS_BYTES = 256
BROTLI_DYNAMIC_QUALITY = 5
GZIP_LEVEL = 6
IDENTITY = "identity"
PREFERENCE = ("br", "gzip")


Encoded = tuple[str, bytes]
"""A body and the Content-Encoding it is in."""


@lru_cache(maxsize=256)
def choose_encoding(accept_encoding: str) -> str:
    """The coding to send for this ``Accept-Encoding`` (phones send a handful of distinct
    ones, so each is parsed once)."""
    accepted = _parse(accept_encoding)
    for coding in PREFERENCE:
        q = accepted.get(coding, accepted.get("*", 0.0))
        if q > 0:
            return coding
    return IDENTITY


def _parse(header: str) -> dict[str, float]:
    accepted: dict[str, float] = {}
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if not name:
            continue
        q = 1.0
        key, _, value = params.strip().partition("=")
        if key.strip() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
        accepted[name.strip().lower()] = q
    return accepted


def encode(body: bytes, encoding: str) -> Encoded:
    """``body`` in ``encoding``, or as it is when too small to be worth compressing."""
    if encoding == IDENTITY or len(body) < MIN_COMPRESS_BYTES:
        return IDENTITY, body
    return encoding, compress(body, encoding)


def compress(body: bytes, encoding: str) -> bytes:
    with encode_time():
        if encoding == "br":
            return bytes(brotli.compress(body, quality=BROTLI_DYNAMIC_QUALITY))
        if encoding == "gzip":
            return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        return body


def tagged(validator: str, encoding: str) -> str:
    """A strong ETag per representation: each encoding's bytes get their own tag."""
    return f'"{validator}"' if encoding == IDENTITY else f'"{validator}-{encoding}"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), as If-None-Match requires."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(","))
