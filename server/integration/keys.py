"""API keys for the office CRM: made by the command line, shown once, kept only as a hash.

A key is ``tk_`` and 32 random bytes (base64url). It is high-entropy, so one SHA-256 is the
right hash (a slow password hash would only cost every request); the lookup is by that hash.
Every request reads the key's row, so a revocation holds from the next request on every
instance; its last use is written at most once a minute per worker. Each key's request budget
(``INTEGRATION_RATE_LIMIT``) is the ``integration`` class of :mod:`server.http.rate_limits`,
spent by the ``endpoint`` decorator once the key is known.
"""

from __future__ import annotations

import math
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from server.audit import service as audit
from server.auth.tokens import secret_digest
from server.db.engine import write_transaction
from server.errors import InvalidApiKey, ScopeForbidden
from server.integration import queries as key_queries

KEY_PREFIX = "tk_"
IMPLIED_BY: dict[str, tuple[str, ...]] = {"jobs:read": ("jobs:write",)}
LAST_USE_EVERY_SECONDS = 60.0


class Scope(StrEnum):
    PEOPLE_WRITE = "people:write"
    JOBS_WRITE = "jobs:write"
    JOBS_READ = "jobs:read"
    EVENTS_READ = "events:read"
    WEBHOOKS_MANAGE = "webhooks:manage"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """The caller of an integration route: which key, and what it may do."""

    key_id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """``all`` allows everything, and a write scope allows reading what it writes."""
        return bool({Scope.ALL, scope, *IMPLIED_BY.get(scope, ())} & self.scopes)


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str  # shown once, never stored
    record: dict[str, Any]


async def create_api_key(name: str, scopes: list[str]) -> NewKey:
    """A new key with ``scopes`` (each a :class:`Scope`; ValueError names a wrong one)."""
    wanted = sorted({Scope(scope).value for scope in scopes})
    if not wanted:
        raise ValueError("give at least one --scope")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = str(uuid.uuid4())
    record = {
        "id": key_id,
        "name": name.strip()[:120] or "unnamed",
        "prefix": key[:10],
        "key_hash": secret_digest(key),
        "scopes": wanted,
    }
    async with write_transaction():
        await key_queries.insert_api_key(record)
        detail = {"name": record["name"], "scopes": wanted}
        await audit.record(audit.SYSTEM, "api_key.created", "api_key", key_id, detail=detail)
    return NewKey(key, key_record(record))


async def revoke_api_key(key_id_or_prefix: str) -> int:
    """Revoke the key with this id or printed prefix; returns how many were revoked.
    Keys are made and revoked on the command line: the system is the actor."""
    async with write_transaction():
        revoked = await key_queries.revoke_api_keys(key_id_or_prefix, datetime.now(UTC))
        for key_id in revoked:
            await audit.record(audit.SYSTEM, "api_key.revoked", "api_key", key_id)
    return len(revoked)


async def list_api_keys() -> list[dict[str, Any]]:
    return [key_record(row) for row in await key_queries.all_api_keys()]


def key_record(row: dict[str, Any]) -> dict[str, Any]:
    """What a listing shows of a key: never the key or its hash."""

    def when(value: Any) -> str | None:
        return value.isoformat() if isinstance(value, datetime) else value

    return {
        "id": str(row["id"]),
        "name": row["name"],
        "prefix": row["prefix"],
        "scopes": list(row["scopes"]),
        "createdAt": when(row.get("created_at")),
        "lastUsedAt": when(row.get("last_used_at")),
        "revokedAt": when(row.get("revoked_at")),
    }


class ApiKeyGate:
    """Who holds a key, and whether it may use a route."""

    def __init__(self) -> None:
        self._last_use: dict[str, float] = {}

    async def authenticate(self, key: str, scopes: tuple[str, ...]) -> KeyHolder:
        """The holder of ``key`` if it has one of ``scopes`` (a route that takes several kinds,
        such as the bulk import, checks each record's own scope after this)."""
        if not key.startswith(KEY_PREFIX):
            raise InvalidApiKey("Integration routes take an API key (tk_...), not a user token.")
        row = await key_queries.live_api_key(secret_digest(key))
        if row is None:
            raise InvalidApiKey()
        holder = KeyHolder(str(row["id"]), row["name"], frozenset(row["scopes"]))
        if not any(holder.allows(scope) for scope in scopes):
            raise ScopeForbidden(f"This route needs the {' or '.join(scopes)} scope.")
        await self._note_use(holder.key_id)
        return holder

    async def _note_use(self, key_id: str) -> None:
        now = time.monotonic()
        if now - self._last_use.get(key_id, -math.inf) >= LAST_USE_EVERY_SECONDS:
            self._last_use[key_id] = now
            await key_queries.record_key_use(key_id, datetime.now(UTC))
