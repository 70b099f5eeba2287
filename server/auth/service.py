"""Sign-in, token refresh with rotation and reuse detection, sign-out, and request auth."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from server.audit import service as audit
from server.auth import queries as device_queries
from server.auth.offline_keys import OfflineKey, OfflineKeys
from server.auth.passwords import DEMO_PASSWORD, verify_password
from server.auth.throttle import LoginThrottle
from server.auth.tokens import RefreshClaims, TokenSigner
from server.changes.service import ChangeMirror, record_session_revoked
from server.config import Settings
from server.core.access import Principal, Role
from server.db.engine import write_transaction
from server.errors import InvalidCredentials, InvalidToken, RefreshTokenReused, SessionRevoked
from server.people import queries as people_queries


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    client_id: str
    name: str
    platform: str


@dataclass(frozen=True, slots=True)
class SignInRules:
    """What an installation allows at sign-in. Outside demo mode the demo's password is
    refused, whatever the account (the demo's accounts have it, and it is public): an
    account seeded for a demo works again once the office sets it a new password. A person
    is signed in on at most ``max_devices`` devices at once."""

    demo: bool
    max_devices: int

    @classmethod
    def of(cls, settings: Settings) -> SignInRules:
        return cls(settings.demo, settings.max_devices_per_user)

    def refuses(self, password: str) -> bool:
        return not self.demo and password == DEMO_PASSWORD


@dataclass(frozen=True, slots=True)
class IssuedSession:
    access_token: str
    refresh_token: str
    expires_in: int
    user: dict[str, Any]
    device_token: str | None = None


async def login(
    email: str,
    password: str,
    device: DeviceInfo,
    client_address: str,
    signer: TokenSigner,
    throttle: LoginThrottle,
    rules: SignInRules,
    device_token: str | None = None,
) -> IssuedSession:
    """A new session for this device, with a new device cookie for the account; an older
    session of the same device is signed out, and so is the person's least recently seen
    device when they would be on more than ``rules.max_devices``. The demo's password
    outside demo mode is a wrong password. ``device_token``, the device cookie of an
    earlier sign-in, has the attempt counted on its own budget (see the throttle)."""
    account = email.casefold()
    known = _known_device(device_token, account, signer)
    attempt = await throttle.reserve(email, client_address, known)  # before the check runs
    user = await people_queries.find_user_by_email(email)
    live_user = user if user is not None and user["active"] else None
    hashed = live_user["password_hash"] if live_user else None
    if not await verify_password(hashed, password) or rules.refuses(password):
        raise InvalidCredentials()
    await throttle.refund(attempt)  # a right password is never counted
    assert live_user is not None
    device_id = str(uuid.uuid4())
    async with write_transaction():
        await _revoke_all(
            await device_queries.live_device_ids(str(live_user["id"]), device.client_id),
            str(live_user["id"]),
            "signed_in_again",
            audit.AuditActor.user(str(live_user["id"])),
        )
        await _revoke_all(
            await device_queries.least_recently_seen(str(live_user["id"]), rules.max_devices - 1),
            str(live_user["id"]),
            "device_limit",
            audit.AuditActor.user(str(live_user["id"])),
        )
        await device_queries.insert_device(
            {
                "id": device_id,
                "user": live_user["id"],
                "client_id": device.client_id,
                "name": device.name,
                "platform": device.platform,
            }
        )
    session = _issue(live_user, device_id, generation=0, signer=signer)
    return replace(session, device_token=signer.issue_device(account))


async def refresh(refresh_token: str, signer: TokenSigner) -> IssuedSession:
    """Spend ``refresh_token`` for a new pair. Spending it twice signs the device out."""
    claims, device = await _device_of(refresh_token, signer)
    if device["revoked_at"] is not None:
        raise SessionRevoked()
    async with write_transaction():
        spent = await device_queries.advance_generation(
            claims.device_id, claims.generation, datetime.now(UTC)
        )
        if not spent:
            await _revoke_all([claims.device_id], claims.user_id, "refresh_token_reused")
    if not spent:
        raise RefreshTokenReused("This refresh token was already used; the device is signed out.")
    user = await people_queries.get_user(claims.user_id)
    if user is None or not user["active"]:
        raise InvalidToken("The account is no longer active.")
    return _issue(user, claims.device_id, claims.generation + 1, signer)


async def logout(principal: Principal, request_id: str | None = None) -> None:
    by = audit.AuditActor.user(principal.user_id, request_id)
    async with write_transaction():
        await _revoke_all([principal.device_id], principal.user_id, "signed_out", by)


async def logout_with_refresh(
    refresh_token: str, signer: TokenSigner, request_id: str | None = None
) -> None:
    """Sign out the device a refresh token belongs to (spent or not: it is ours either way)."""
    claims, _ = await _device_of(refresh_token, signer)
    by = audit.AuditActor.user(claims.user_id, request_id)
    async with write_transaction():
        await _revoke_all([claims.device_id], claims.user_id, "signed_out", by)


async def offline_key(principal: Principal, keys: OfflineKeys) -> OfflineKey:
    """The key this device seals its offline copy with; only a live session gets it."""
    device = await device_queries.get_device(principal.device_id)
    if device is None or device["revoked_at"] is not None:
        raise SessionRevoked()
    return keys.for_device(principal.user_id, device["client_id"])


async def sign_out_everywhere(
    user_id: str,
    reason: str,
    keep_device: str | None = None,
    by: audit.AuditActor = audit.SYSTEM,
) -> None:
    """Within a write transaction: end every live session of the person (but ``keep_device``):
    their access tokens are refused from the next request on every instance, their refresh
    tokens at once, and their live streams end."""
    devices = await device_queries.user_live_device_ids(user_id)
    await _revoke_all([d for d in devices if d != keep_device], user_id, reason, by)


async def revoke_session(
    device_id: str, user_id: str, reason: str, by: audit.AuditActor = audit.SYSTEM
) -> None:
    """End one device's session (a lost phone): its tokens and offline key stop working."""
    async with write_transaction():
        await _revoke_all([device_id], user_id, reason, by)


def authenticate(token: str, signer: TokenSigner, mirror: ChangeMirror) -> Principal:
    """Who holds ``token``: no database read, the mirror knows revoked sessions and whose
    role, branch or team changed since (the mirror's placement wins over the token's)."""
    principal = signer.read_access(token)
    if mirror.is_revoked(principal.device_id):
        raise SessionRevoked()
    placement = mirror.placement_of(principal.user_id)
    if placement is None:
        return principal
    return Principal(
        user_id=principal.user_id,
        device_id=principal.device_id,
        role=Role(placement.role),
        branch_id=placement.branch_id,
        team_id=placement.team_id,
    )


async def _device_of(
    refresh_token: str, signer: TokenSigner
) -> tuple[RefreshClaims, dict[str, Any]]:
    """The signed claims and the device row they name; the device must be the user's."""
    claims = signer.read_refresh(refresh_token)
    device = await device_queries.get_device(claims.device_id)
    if device is None or str(device["user"]) != claims.user_id:
        raise InvalidToken("Refresh token is not valid.")
    return claims, device


def _known_device(token: str | None, account: str, signer: TokenSigner) -> str | None:
    """The nonce of ``token`` when it is a valid device cookie of ``account``; a forged or
    expired cookie, or another account's, is no cookie."""
    if not token:
        return None
    try:
        return signer.device_nonce(token, account)
    except InvalidToken:
        return None


async def _revoke_all(
    device_ids: list[str], user_id: str, reason: str, by: audit.AuditActor = audit.SYSTEM
) -> None:
    """Within a write transaction: revoke the live ones among ``device_ids``, each logged
    (the mirrors refuse its tokens) and audited (``by`` whom; the system for a reused
    refresh token). Their push subscriptions end with them."""
    revoked = await device_queries.revoke_devices(device_ids, reason, datetime.now(UTC))
    await device_queries.delete_device_subscriptions(device_ids)
    for device_id in revoked:
        await record_session_revoked(device_id, user_id, reason)
        detail = {"userId": user_id, "reason": reason}
        await audit.record(by, "device.revoked", "device", device_id, detail=detail)


def _issue(
    user: dict[str, Any], device_id: str, generation: int, signer: TokenSigner
) -> IssuedSession:
    principal = Principal(
        user_id=str(user["id"]),
        device_id=device_id,
        role=user["role"],
        branch_id=_text_or_none(user["branch"]),
        team_id=_text_or_none(user["team"]),
    )
    return IssuedSession(
        access_token=signer.issue_access(principal),
        refresh_token=signer.issue_refresh(principal.user_id, device_id, generation),
        expires_in=signer.access_seconds,
        user={
            "id": principal.user_id,
            "name": user["name"],
            "role": user["role"],
            "teamId": principal.team_id,
            "locale": user["locale"],
        },
    )


def _text_or_none(value: object) -> str | None:
    return None if value is None else str(value)
