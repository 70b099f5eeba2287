"""Failed-login throttle: per account and per client address, counting failures only.

Correct logins are never counted, so a whole team signing in from one office Wi-Fi is not
throttled; guessing at one account, or at many accounts from one address, is.

With ``RATE_LIMIT_URL=redis://…`` the counts are shared by every worker. When Redis fails,
each worker counts in its own memory until Redis answers again (see
:mod:`server.core.shared_store`): logins go on, still throttled, though an attacker spread over
workers gets that many budgets meanwhile, and failures counted meanwhile are not carried over.
"""

from __future__ import annotations

import contextlib
import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from server.core.shared_store import LOCAL, SharedStore, StoreUnavailable
from server.errors import RateLimited


class LoginThrottle:
    def __init__(self, storage_url: str, per_account: str, per_address: str) -> None:
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._storage: Storage | None = None
        self._shared: MovingWindowRateLimiter | None = None
        if not storage_url.startswith("memory://"):
            storage: Storage = storage_from_string(f"async+{storage_url}")  # type: ignore[assignment]
            self._storage = storage
            self._shared = MovingWindowRateLimiter(storage)
        self._shared_store = SharedStore("login throttle")
        self._per_account: RateLimitItem = parse(per_account)
        self._per_address: RateLimitItem = parse(per_address)

    @property
    def status(self) -> str:
        """For /readyz: ``local`` (memory by configuration), ``ok``, or ``degraded: <why>``."""
        return LOCAL if self._shared is None else self._shared_store.status

    async def probe(self) -> str:
        """Try the shared counts now (Redis may be back), then say how they stand."""
        if self._storage is not None:
            storage = self._storage
            with contextlib.suppress(StoreUnavailable):
                await self._shared_store.run(storage.check)
        return self.status

    async def check(self, email: str, address: str) -> None:
        """Raise 429 while either budget of failures is spent."""
        for item, key in self._keys(email, address):
            await self._refuse_if_spent(item, key)

    async def check_address(self, address: str) -> None:
        """Raise 429 while the address's budget is spent (password links and forgotten
        passwords, which have no account to count against)."""
        await self._refuse_if_spent(*self._address_key(address))

    async def record_address_failure(self, address: str) -> None:
        await self._hit(*self._address_key(address))

    async def record_failure(self, email: str, address: str) -> None:
        for item, key in self._keys(email, address):
            await self._hit(item, key)

    async def _hit(self, item: RateLimitItem, key: str) -> None:
        if self._shared is not None:
            shared = self._shared
            with contextlib.suppress(StoreUnavailable):
                await self._shared_store.run(lambda: shared.hit(item, key))
                return
        await self._local.hit(item, key)

    async def _refuse_if_spent(self, item: RateLimitItem, key: str) -> None:
        if not await self._allowed(item, key):
            raise RateLimited(math.ceil(await self._reset_time(item, key) - time.time()))

    async def _allowed(self, item: RateLimitItem, key: str) -> bool:
        if self._shared is not None:
            shared = self._shared
            with contextlib.suppress(StoreUnavailable):
                return await self._shared_store.run(lambda: shared.test(item, key))
        return await self._local.test(item, key)

    async def _reset_time(self, item: RateLimitItem, key: str) -> float:
        if self._shared is not None:
            shared = self._shared
            with contextlib.suppress(StoreUnavailable):
                stats = await self._shared_store.run(lambda: shared.get_window_stats(item, key))
                return stats.reset_time
        return (await self._local.get_window_stats(item, key)).reset_time

    def _keys(self, email: str, address: str) -> tuple[tuple[RateLimitItem, str], ...]:
        return (
            (self._per_account, f"login-account:{email.casefold()}"),
            self._address_key(address),
        )

    def _address_key(self, address: str) -> tuple[RateLimitItem, str]:
        return self._per_address, f"login-address:{address}"
