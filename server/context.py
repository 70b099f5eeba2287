"""What every worker holds for its lifetime, typed so handlers reach it checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from piccolo.engine.base import Engine
from sanic import Request

from server.alerts.planner import AlertPlanner
from server.auth.offline_keys import OfflineKeys
from server.auth.service import authenticate
from server.auth.throttle import LoginThrottle
from server.auth.tokens import TokenSigner
from server.changes.listen import ChangeNotifications
from server.changes.service import ChangeMirror
from server.config import Settings
from server.core.access import Principal
from server.core.schedule import Scheduler
from server.http.rate_limits import RateLimits
from server.http.representations import RepresentationCache
from server.integration.keys import ApiKeyGate, KeyHolder
from server.jobs.cursors import CursorCodec
from server.live.caps import StreamCaps
from server.live.hub import LiveHub
from server.photos.links import PhotoLinks
from server.photos.storage.objects import ObjectStore
from server.push.vapid import VapidKeys
from server.pwa.shell import AppShell


@dataclass
class AppContext:
    settings: Settings
    signer: TokenSigner
    cursors: CursorCodec
    offline_keys: OfflineKeys
    throttle: LoginThrottle
    representations: RepresentationCache
    mirror: ChangeMirror
    hub: LiveHub
    shell: AppShell
    photo_links: PhotoLinks
    photo_store: ObjectStore
    vapid: VapidKeys
    api_keys: ApiKeyGate
    rate_limits: RateLimits
    stream_caps: StreamCaps
    engine: Engine[Any] | None = None
    notifications: ChangeNotifications | None = None
    alerts: AlertPlanner | None = None
    scheduler: Scheduler | None = None

    def authenticate(self, token: str) -> Principal:
        """Who holds ``token``: no database read, the mirror knows revoked sessions."""
        return authenticate(token, self.signer, self.mirror)

    async def authenticate_key(self, key: str, scopes: tuple[str, ...]) -> KeyHolder:
        """Which CRM key this is, if it has one of ``scopes`` and requests left."""
        return await self.api_keys.authenticate(key, scopes)

    async def catch_up(self) -> None:
        await self.mirror.catch_up()


def app_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.ctx.tinedy
    return ctx
