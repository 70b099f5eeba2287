"""The sign-in throttle: password checks are reserved before they run, and given back when
the password was right, so only failures (and checks in flight) count.

Three counts, each an atomic increment (Redis ``INCRBY`` with ``RATE_LIMIT_URL=redis://…``,
else this process's memory), taken *before* the password is checked: 200 guesses sent at
once see counts 1 to 200, and only those within the budget reach Argon2. A refused attempt
gives its counts back at once, so hammering a closed door never fills anyone's budget.

- **Per account and client** (``LOGIN_FAILURES_PER_ACCOUNT``): guesses at one account from
  one address. The account's owner, from their own address, is not touched by an attacker
  elsewhere: no one can lock a dispatcher out.
- **Per client** (``LOGIN_FAILURES_PER_ADDRESS``): guesses at any accounts from one address.
- **Per account** (``LOGIN_FAILURES_ACCOUNT_CEILING``): guesses at one account from
  everywhere. Past this ceiling (a spread-out attack) each address gets one try per window at
  that account, not five; a person who types their password right still gets in at once, from
  any address. It slows an attack down; it never locks the account.

A sign-in that presents a valid device cookie of its account (OWASP's "device cookies",
:meth:`~server.auth.tokens.TokenSigner.issue_device`) is counted on the cookie's own budget
instead, keyed by its nonce (``LOGIN_FAILURES_PER_ACCOUNT`` again), and on none of the three:
an attacker behind the owner's address (a carrier NAT, an office Wi-Fi) spends the client's
budgets, not the owner's. Once a cookie's budget is spent (it was stolen, or its owner forgot
the password) it is no cookie: its attempts fall back to the three counts.

A client is its IPv4 address or its IPv6 /64 (:func:`client_prefix`): a home or phone network
gets a whole /64 and can rotate through it. Windows are 15 minutes aligned to the clock, and
``Retry-After`` says when the window ends. While Redis is unreachable each worker counts in its
own memory (see :mod:`server.core.shared_store`): sign-in goes on, still throttled.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from limits import parse

from server.errors import RateLimited
from server.http.rate_limits import SIGN_IN_FAILURES, THROTTLED, WindowCounters, client_prefix


@dataclass(frozen=True, slots=True)
class Limit:
    quota: int
    window: int

    @classmethod
    def of(cls, rate: str) -> Limit:
        item = parse(rate)
        return cls(item.amount, int(item.get_expiry()))


@dataclass(frozen=True, slots=True)
class Reservation:
    """Counts taken for one password check: give them back when the password was right."""

    keys: tuple[tuple[str, int], ...]


class LoginThrottle:
    def __init__(
        self,
        counters: WindowCounters,
        per_account: str,
        per_address: str,
        account_ceiling: str = "100 per 15 minutes",
    ) -> None:
        self._counters = counters
        self._per_pair = Limit.of(per_account)
        self._per_address = Limit.of(per_address)
        self._ceiling = Limit.of(account_ceiling)

    @property
    def status(self) -> str:
        """For /readyz: ``local`` (memory by configuration), ``ok``, or ``degraded: <why>``."""
        return self._counters.status

    async def probe(self) -> str:
        return await self._counters.probe()

    async def reserve(self, email: str, address: str, device: str | None = None) -> Reservation:
        """Count one password check at ``email`` from ``address``; 429 (counting nothing)
        when a budget is spent. ``device`` is the nonce of a valid device cookie of this
        account: while its budget lasts, it is the only count taken."""
        if device is not None and (trusted := await self._reserve_device(device)) is not None:
            return trusted
        account, client = email.casefold(), client_prefix(address)
        pair, ceiling = self._per_pair, self._ceiling
        keys = (
            (f"login:a:{client}", self._per_address),
            (f"login:p:{account}:{client}", pair),
            (f"login:c:{account}", ceiling),
        )
        counted = await asyncio.gather(*(self._counters.add(k, lim.window) for k, lim in keys))
        (by_client, client_reset), (by_pair, pair_reset), (by_account, _) = counted
        refused = [client_reset] if by_client > self._per_address.quota else []
        if by_pair > pair.quota or (by_account > ceiling.quota and by_pair > 1):
            refused.append(pair_reset)  # past the ceiling (a spread-out attack): one try each
        reservation = Reservation(tuple((key, lim.window) for key, lim in keys))
        if refused:
            await self.refund(reservation)
            THROTTLED.labels(SIGN_IN_FAILURES).inc()
            raise RateLimited(math.ceil(max(refused)))
        return reservation

    async def _reserve_device(self, nonce: str) -> Reservation | None:
        """Count one check on a device cookie's budget; None (counting nothing) once it is
        spent, so the attempt is counted as one without a cookie."""
        key, limit = f"login:d:{nonce}", self._per_pair
        count, _ = await self._counters.add(key, limit.window)
        reservation = Reservation(((key, limit.window),))
        if count <= limit.quota:
            return reservation
        await self.refund(reservation)
        return None

    async def reserve_address(self, address: str) -> Reservation:
        """Count one attempt from ``address`` with no account to name (a password link, a
        forgotten password); 429 when its budget is spent."""
        key, limit = f"login:a:{client_prefix(address)}", self._per_address
        count, reset = await self._counters.add(key, limit.window)
        reservation = Reservation(((key, limit.window),))
        if count > limit.quota:
            await self.refund(reservation)
            THROTTLED.labels(SIGN_IN_FAILURES).inc()
            raise RateLimited(math.ceil(reset))
        return reservation

    async def refund(self, reservation: Reservation) -> None:
        """Give the counts back: the password was right (or the attempt was refused)."""
        await asyncio.gather(*(self._counters.add(k, w, -1) for k, w in reservation.keys))
