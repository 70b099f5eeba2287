"""The fake push service, for tests of Web Push delivery."""

from collections.abc import AsyncIterator

import pytest

from tests.push.push_service import PushService


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    """A started push service that takes any VAPID key until a test sets ``vapid_public_key``."""
    async with PushService() as service:
        yield service
