"""Rate limits on every caller: per device and per person, per route class, with the IETF
``RateLimit`` and ``RateLimit-Policy`` headers (draft-ietf-httpapi-ratelimit-headers-11).

Each route belongs to a class (:class:`RouteClass`): reads (every GET of a signed-in
person), sync (field work: sync batches, check-ins, job steps), uploads, dispatch (the
office's writes), writes (the rest: push, preferences, receipts, passwords), sign-in (the
public auth routes, per client address) and integration (per CRM API key). The ``endpoint``
decorator spends one request from the caller's budgets before the handler runs and puts the
headers on the answer, errors included; past a budget it answers 429 problem+json with
``Retry-After``. A person's budget is ``RATE_LIMIT_USER_FACTOR`` times a device's, so one
person's several phones and browser share more than one phone, but not without end.

Windows are fixed and aligned to the clock (``t`` is the time to the window's end): one
counter per key and window. Reads are counted in the worker's memory (no round trip on the
feed's hot path; a client spread over W workers may make up to W times the budget); the
other classes are counted in ``RATE_LIMIT_URL``'s store (Redis, shared by every worker and
instance, one round trip per request), or in memory while it is down or not configured.
The counts in memory are our own small table rather than ``limits``' ``MemoryStorage``,
which starts a timer thread on a request after any 10 ms pause; ``limits`` parses the
budgets and speaks to Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.storage import storage_from_string
from prometheus_client import Counter

from server.config import Settings
from server.core.shared_store import LOCAL, SharedStore, StoreUnavailable
from server.errors import RateLimited

THROTTLED = Counter(
    "tinedy_throttled_requests_total",
    "Requests refused with 429 by a rate limit or the sign-in throttle, per route class.",
    ["route_class"],
)


class RouteClass(StrEnum):
    READS = "reads"
    SYNC = "sync"
    UPLOADS = "uploads"
    DISPATCH = "dispatch"
    WRITES = "writes"
    SIGN_IN = "sign_in"
    INTEGRATION = "integration"


SIGN_IN_FAILURES = "sign_in_failures"  # the sign-in throttle's label (server/auth/throttle.py)

WRITES_BY_MODULE: dict[str, RouteClass] = {
    "server.sync.endpoints": RouteClass.SYNC,
    "server.checkins.endpoints": RouteClass.SYNC,
    "server.jobs.endpoints": RouteClass.SYNC,
    "server.photos.endpoints": RouteClass.UPLOADS,
    "server.dispatch.endpoints": RouteClass.DISPATCH,
    "server.alerts.endpoints": RouteClass.DISPATCH,
    "server.push.notification_endpoints.send": RouteClass.DISPATCH,
}
"""The class of other domains' unsafe routes, by module or ``module.handler`` (a route may
also name its own with ``endpoint(rate_class=...)``). A GET of a signed-in person is a read;
any other write is ``writes``; a public route without a class (the shell, media by signed
URL, health) is not limited."""


def declared_class(module: str, name: str) -> RouteClass | None:
    return WRITES_BY_MODULE.get(f"{module}.{name}") or WRITES_BY_MODULE.get(module)


@dataclass(frozen=True, slots=True)
class Budget:
    """One class's budget: ``quota`` requests per ``window`` seconds per key."""

    name: str
    quota: int
    window: int

    @classmethod
    def of(cls, name: str, item: RateLimitItem, factor: int = 1) -> Budget:
        return cls(name, item.amount * factor, int(item.get_expiry()))

    @property
    def policy(self) -> str:
        return f'"{self.name}";q={self.quota};w={self.window}'


@dataclass(frozen=True, slots=True)
class Spent:
    """What one budget has left after a request: remaining ``r``, seconds to reset ``t``."""

    budget: Budget
    count: int
    reset: float

    @property
    def over(self) -> bool:
        return self.count > self.budget.quota

    def item(self) -> str:
        left = max(0, self.budget.quota - self.count)
        return f'"{self.budget.name}";r={left};t={math.ceil(self.reset)}'


class LocalWindows:
    """Counts per key in this process, in windows aligned to the clock; a window's counts
    are dropped when the next window of that length begins (memory: the keys of one window)."""

    def __init__(self) -> None:
        self._windows: dict[int, tuple[int, dict[str, int]]] = {}

    def add(self, key: str, window: int, amount: int, now: float) -> int:
        counts = self.counts(window, now)
        count = counts[key] = counts.get(key, 0) + amount
        return count

    def counts(self, window: int, now: float) -> dict[str, int]:
        """The counts of the window of length ``window`` that holds ``now``."""
        index = int(now // window)
        current = self._windows.get(window)
        if current is None or current[0] != index:
            current = self._windows[window] = (index, {})
        return current[1]


class WindowCounters:
    """Atomic counts in aligned windows: in Redis when ``storage_url`` names it (one
    ``INCRBY`` with its expiry, by ``limits``' storage), else, or while Redis is down, in
    this process."""

    def __init__(self, storage_url: str, name: str) -> None:
        self.local = LocalWindows()
        self._shared: Storage | None = None
        if not storage_url.startswith("memory://"):
            storage: Storage = storage_from_string(f"async+{storage_url}")  # type: ignore[assignment]
            self._shared = storage
        self._store = SharedStore(name)

    @property
    def status(self) -> str:
        """For /readyz: ``local`` (memory by configuration), ``ok``, or ``degraded: <why>``."""
        return LOCAL if self._shared is None else self._store.status

    async def probe(self) -> str:
        """Try the shared store now (Redis may be back), then say how it stands."""
        if self._shared is not None:
            shared = self._shared
            with contextlib.suppress(StoreUnavailable):
                await self._store.run(shared.check)
        return self.status

    def add_here(self, key: str, window: int, amount: int = 1) -> tuple[int, float]:
        """The count after adding ``amount`` in this process, and seconds to the window's end."""
        now = time.time()
        return self.local.add(key, window, amount, now), window - now % window

    async def add(self, key: str, window: int, amount: int = 1) -> tuple[int, float]:
        """The shared count after adding ``amount``, and seconds to the window's end."""
        if self._shared is None:
            return self.add_here(key, window, amount)
        now = time.time()
        reset = window - now % window
        shared, name = self._shared, f"{key}:{int(now // window)}"
        try:
            count = await self._store.run(lambda: shared.incr(name, math.ceil(reset) + 1, amount))
        except StoreUnavailable:
            return self.local.add(key, window, amount, now), reset
        return count, reset


class RateLimits:
    """Every route class's budgets (from the settings) and the counts spent against them."""

    def __init__(self, settings: Settings) -> None:
        self.counters = WindowCounters(settings.rate_limit_url, "rate limits")
        rates = {
            RouteClass.READS: settings.rate_limit_reads,
            RouteClass.SYNC: settings.rate_limit_sync,
            RouteClass.UPLOADS: settings.rate_limit_uploads,
            RouteClass.DISPATCH: settings.rate_limit_dispatch,
            RouteClass.WRITES: settings.rate_limit_writes,
            RouteClass.SIGN_IN: settings.rate_limit_sign_in,
            RouteClass.INTEGRATION: settings.integration_rate_limit,
        }
        factor = settings.rate_limit_user_factor
        self._device = {c: Budget.of(c, parse(rate)) for c, rate in rates.items()}
        self._user = {c: Budget.of(f"{c}-user", parse(rate), factor) for c, rate in rates.items()}
        self._policies = {
            c: f"{self._device[c].policy}, {self._user[c].policy}" for c in RouteClass
        }

    def spend_read(self, device_id: str, user_id: str) -> dict[str, str]:
        """A read, counted in this worker: no await, no round trip, a few dictionary steps
        (it is on the feed's hot path, its 304 included)."""
        device, user = self._device[RouteClass.READS], self._user[RouteClass.READS]
        now = time.time()
        counts = self.counters.local.counts(device.window, now)  # one window for both
        device_key, user_key = "reads:d:" + device_id, "reads:u:" + user_id
        by_device = counts[device_key] = counts.get(device_key, 0) + 1
        by_user = counts[user_key] = counts.get(user_key, 0) + 1
        if by_device > device.quota or by_user > user.quota:
            reset = device.window - now % device.window
            spent = (Spent(device, by_device, reset), Spent(user, by_user, reset))
            return self._answer(RouteClass.READS, spent, self._policies[RouteClass.READS])
        reset_in = math.ceil(device.window - now % device.window)
        return {
            "RateLimit-Policy": self._policies[RouteClass.READS],
            "RateLimit": f'"reads";r={device.quota - by_device};t={reset_in}, '
            f'"reads-user";r={user.quota - by_user};t={reset_in}',
        }

    async def spend_person(
        self, route_class: RouteClass, device_id: str, user_id: str
    ) -> dict[str, str]:
        """One request of a signed-in person's device, against both budgets of the class."""
        if route_class is RouteClass.READS:
            return self.spend_read(device_id, user_id)
        device, user = self._device[route_class], self._user[route_class]
        counted = await asyncio.gather(  # the two round trips at once
            self.counters.add(f"{route_class}:d:{device_id}", device.window),
            self.counters.add(f"{route_class}:u:{user_id}", user.window),
        )
        spent = (Spent(device, *counted[0]), Spent(user, *counted[1]))
        return self._answer(route_class, spent, self._policies[route_class])

    async def spend_one(self, route_class: RouteClass, key: str) -> dict[str, str]:
        """One request counted against a single key: a client address (public routes) or
        an API key (integration)."""
        budget = self._device[route_class]
        spent = (Spent(budget, *await self.counters.add(f"{route_class}:{key}", budget.window)),)
        return self._answer(route_class, spent, budget.policy)

    def _answer(
        self, route_class: RouteClass, spent: Iterable[Spent], policy: str
    ) -> dict[str, str]:
        """The headers for the answer; RateLimited (429) when any budget is spent."""
        spent = tuple(spent)
        headers = {
            "RateLimit-Policy": policy,
            "RateLimit": ", ".join(s.item() for s in spent),
        }
        over = [s for s in spent if s.over]
        if over:
            THROTTLED.labels(route_class.value).inc()
            wait = math.ceil(max(s.reset for s in over))
            refused = RateLimited(wait, f"Too many {route_class} requests; try again in {wait} s.")
            refused.headers.update(headers)
            raise refused
        return headers


def client_prefix(address: str) -> str:
    """The part of a client address that one client controls: an IPv4 address, or an IPv6
    address's /64 (one home or phone network gets a whole /64 and may rotate through it)."""
    try:
        parsed = ipaddress.ip_address(address.strip("[]"))  # Sanic brackets a forwarded IPv6
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
