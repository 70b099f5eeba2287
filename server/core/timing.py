"""Where one request's time went, sent as ``Server-Timing`` so browser devtools show it.

The ``endpoint`` decorator opens a :class:`RequestTimings` for each request in a context
variable; the database engine adds each query's duration to ``db`` (``server/db/timing.py``)
and the JSON and compression code add theirs to ``encode``. Tasks a handler starts inherit the
same accumulator. Outside a request (background work, commands) nothing is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field


@dataclass
class RequestTimings:
    started: float = field(default_factory=time.perf_counter)
    db: float = 0.0
    encode: float = 0.0

    def header(self) -> str:
        """``db;dur=1.204, encode;dur=0.310, total;dur=2.118`` (milliseconds)."""
        total = time.perf_counter() - self.started
        return (
            f"db;dur={self.db * 1000:.3f}, encode;dur={self.encode * 1000:.3f}, "
            f"total;dur={total * 1000:.3f}"
        )


_current: ContextVar[RequestTimings | None] = ContextVar("request_timings", default=None)


def start_request() -> tuple[RequestTimings, Token[RequestTimings | None]]:
    timings = RequestTimings()
    return timings, _current.set(timings)


def end_request(token: Token[RequestTimings | None]) -> None:
    _current.reset(token)


def add_db_time(seconds: float) -> None:
    timings = _current.get()
    if timings is not None:
        timings.db += seconds


@contextmanager
def encode_time() -> Iterator[None]:
    """Count the enclosed serialisation or compression as ``encode`` time."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings = _current.get()
        if timings is not None:
            timings.encode += time.perf_counter() - started
