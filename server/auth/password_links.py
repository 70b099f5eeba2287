"""Passwords a person sets themselves: one-time links (an invite to set a first password, a
reset for a forgotten one), asking for a reset, and changing one's own password.

A link is ``<base>/set-password#token=<token>``: the token is 32 random bytes, in the
fragment so it never reaches a server log or a ``Referer``; only its SHA-256 is kept (it is
high-entropy, so a fast hash is enough). A new link spends the person's earlier unused ones,
and setting a password spends them all. Setting or changing a password signs the person's
other sessions out.

Forgetting a password never says whether the account exists: the office CRM hears of an
active account's request through the change log (``staff.password_reset_requested``) and
sends the person a reset link it asks this product for.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from server.auth import queries as auth_queries
from server.auth.passwords import hash_password_off_loop, verify_password
from server.auth.service import sign_out_everywhere
from server.auth.throttle import LoginThrottle
from server.auth.tokens import secret_digest
from server.changes.service import record_unscoped
from server.core.access import Principal
from server.db.engine import write_transaction
from server.errors import InvalidCredentials, PasswordLinkInvalid, SessionRevoked
from server.people import queries as people_queries

INVITE, RESET = "invite", "reset"
RESET_REQUESTED = "staff.password_reset_requested"
LINK_PATH = "/set-password"


@dataclass(frozen=True, slots=True)
class PasswordLink:
    url: str
    expires_at: datetime


def link_base(configured: str, request_origin: str) -> str:
    """Where links point: the public origin when set (``PASSWORD_LINK_BASE_URL``, else
    ``APP_ORIGIN``), else the asking request's own (as the proxy in front says it)."""
    return (configured or request_origin).rstrip("/")


async def issue_link(user_id: str, purpose: str, base: str, lifetime: timedelta) -> PasswordLink:
    """Within a write transaction: a new one-time link for the person; their earlier unused
    links stop working."""
    now = datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    await auth_queries.spend_password_tokens(user_id, now)
    expires_at = now + lifetime
    await auth_queries.insert_password_token(
        {
            "id": str(uuid.uuid4()),
            "user_id": user_id,
            "purpose": purpose,
            "token_hash": secret_digest(token),
            "expires_at": expires_at,
        }
    )
    return PasswordLink(f"{base}{LINK_PATH}#token={token}", expires_at)


async def spend_links(user_id: str) -> None:
    """Within a write transaction: every unused link of the person stops working."""
    await auth_queries.spend_password_tokens(user_id, datetime.now(UTC))


async def set_password(token: str, password: str, address: str, throttle: LoginThrottle) -> None:
    """Set the password a link is for, once; every session of the person ends. A used,
    expired or unknown link is refused and counted against the client's address."""
    attempt = await throttle.reserve_address(address)
    token_hash = secret_digest(token)
    if await auth_queries.usable_password_token(token_hash, datetime.now(UTC)) is None:
        raise PasswordLinkInvalid()
    password_hash = await hash_password_off_loop(password)
    async with write_transaction():
        user = await _spend(token_hash)
        if user is not None:
            await people_queries.set_password_hash(str(user["id"]), password_hash)
            await spend_links(str(user["id"]))
            await sign_out_everywhere(str(user["id"]), "password_set")
    if user is None:
        raise PasswordLinkInvalid()
    await throttle.refund(attempt)


async def request_reset(email: str, address: str, throttle: LoginThrottle) -> None:
    """Tell the office CRM an active account forgot its password; say nothing either way.
    Every request counts against the client's address (it cannot be told a failure)."""
    await throttle.reserve_address(address)
    user = await people_queries.find_user_by_email(email)
    if user is None or not user["active"]:
        return
    user_id = str(user["id"])
    async with write_transaction():
        await record_unscoped(
            [{"kind": RESET_REQUESTED, "actor_id": user_id, "payload": {"userId": user_id}}]
        )


async def change_password(
    principal: Principal, current: str, new: str, address: str, throttle: LoginThrottle
) -> None:
    """Replace the signed-in person's password; a wrong current one counts as a failed login.
    Their other sessions end, this one stays."""
    user = await people_queries.get_user(principal.user_id)
    if user is None or not user["active"]:
        raise SessionRevoked("The account is no longer active.")
    attempt = await throttle.reserve(user["email"], address)
    if not await verify_password(user["password_hash"], current):
        raise InvalidCredentials("The current password is wrong.")
    await throttle.refund(attempt)
    password_hash = await hash_password_off_loop(new)
    async with write_transaction():
        await people_queries.set_password_hash(principal.user_id, password_hash)
        await spend_links(principal.user_id)
        await sign_out_everywhere(
            principal.user_id, "password_changed", keep_device=principal.device_id
        )


async def _spend(token_hash: str) -> dict[str, Any] | None:
    """Within a write transaction: spend the link; the active person it was for, or None."""
    user_id = await auth_queries.spend_password_token(token_hash, datetime.now(UTC))
    user = None if user_id is None else await people_queries.get_user(user_id)
    return user if user is not None and user["active"] else None
