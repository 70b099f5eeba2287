"""What every worker holds for its lifetime, typed so handlers reach it checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from piccolo.engine.base import Engine

from server.config import Settings
from server.db.notifications import ChangeNotifications
from server.http.representations import RepresentationCache
from server.realtime.hub import LiveHub
from server.security.cursors import CursorCodec
from server.security.offline_keys import OfflineKeys
from server.security.photo_links import PhotoLinks
from server.security.throttle import LoginThrottle
from server.security.tokens import TokenSigner
from server.security.vapid import VapidKeys
from server.services.app_shell import AppShell
from server.services.changes import ChangeMirror
from server.storage.objects import ObjectStore


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
    engine: Engine[Any] | None = None
    notifications: ChangeNotifications | None = None
