"""Failed-login throttle: per account and per client address, counting failures only.

Correct logins are never counted, so a whole team signing in from one office Wi-Fi is not
throttled; guessing at one account, or at many accounts from one address, is.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from server.errors import RateLimited


class LoginThrottle:
    def __init__(self, storage_url: str, per_account: str, per_address: str) -> None:
        storage = storage_from_string(f"async+{storage_url}")
        self._limiter = MovingWindowRateLimiter(storage)
        self._per_account: RateLimitItem = parse(per_account)
        self._per_address: RateLimitItem = parse(per_address)

    async def check(self, email: str, address: str) -> None:
        """Raise 429 while either budget of failures is spent."""
        for item, key in self._keys(email, address):
            if not await self._limiter.test(item, key):
                stats = await self._limiter.get_window_stats(item, key)
                raise RateLimited(math.ceil(stats.reset_time - time.time()))

    async def record_failure(self, email: str, address: str) -> None:
        for item, key in self._keys(email, address):
            await self._limiter.hit(item, key)

    def _keys(self, email: str, address: str) -> tuple[tuple[RateLimitItem, str], ...]:
        return (
            (self._per_account, f"login-account:{email.casefold()}"),
            (self._per_address, f"login-address:{address}"),
        )
