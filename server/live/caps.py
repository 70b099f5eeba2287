"""How many live streams one device and one person may hold open in a worker.

A stream holds a socket, a queue and a place in every fan-out; unbounded, one stolen token
could open thousands. Past ``LIVE_STREAMS_PER_DEVICE`` for the device or
``LIVE_STREAMS_PER_USER`` for the person, a new stream is refused with 429 and a
``Retry-After`` of one heartbeat, rather than ending the oldest: ending streams would let two
tabs past the cap push each other off for ever (each reconnects and ends the other), whereas
a refused stream backs off. A phone whose old stream died unseen gets its slot back when the
dead stream's next heartbeat fails to send; the per-device cap (4: a phone's stream and its
reconnect, or a dispatcher's browser tabs, which share one session) leaves room meanwhile.
Counted per worker: with W workers a device may hold up to W times as many.
"""

from __future__ import annotations

import math
from collections import Counter

from server.core.access import Principal
from server.errors import RateLimited
from server.http.rate_limits import THROTTLED

LIVE_STREAMS = "live_streams"  # the throttled-requests metric's label


class StreamCaps:
    def __init__(self, per_device: int, per_user: int, retry_after: float) -> None:
        self._per_device = per_device
        self._per_user = per_user
        self._retry_after = math.ceil(retry_after)
        self._devices: Counter[str] = Counter()
        self._users: Counter[str] = Counter()

    def hold(self, principal: Principal) -> Held:
        """One stream's place while it is open (a context manager); RateLimited (429) when
        none is free."""
        device, user = principal.device_id, principal.user_id
        if self._devices[device] >= self._per_device or self._users[user] >= self._per_user:
            THROTTLED.labels(LIVE_STREAMS).inc()
            raise RateLimited(
                self._retry_after, "Too many live streams are open for this device or person."
            )
        self._devices[device] += 1
        self._users[user] += 1
        return Held(self, device, user)

    def release(self, device: str, user: str) -> None:
        self._release(self._devices, device)
        self._release(self._users, user)

    @staticmethod
    def _release(counts: Counter[str], key: str) -> None:
        counts[key] -= 1
        if counts[key] <= 0:
            del counts[key]


class Held:
    """A stream's place, given back on leaving the ``with`` block (a small object, not a
    generator: thousands are held at once)."""

    __slots__ = ("_caps", "_device", "_user")

    def __init__(self, caps: StreamCaps, device: str, user: str) -> None:
        self._caps, self._device, self._user = caps, device, user

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self._caps.release(self._device, self._user)
