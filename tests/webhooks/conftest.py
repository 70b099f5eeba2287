"""Webhook tests: a receiver on loopback that the server may post to, a sender running in the
test's own loop, and no webhook outliving its test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from server.context import AppContext
from server.db.tables import WebhookEndpoint
from server.webhooks.worker import WebhookDispatcher, WebhookSender
from tests.integration.conftest import crm_key as crm_key
from tests.webhooks.receiver import Receiver

PUBLIC_ORIGIN = "https://field.example.com"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as started:
        yield started


@pytest.fixture
def settings_overrides(receiver: Receiver) -> dict[str, Any]:
    return {
        "webhook_allowed_origins": receiver.origin,
        "webhook_senders": 0,  # the tests run a sender of their own
        "webhook_poll_seconds": 0.05,
        "webhook_retry_seconds": 0.1,
        "webhook_timeout_seconds": 2.0,  # a loaded machine must not make a 200 a timeout
        "password_link_base_url": PUBLIC_ORIGIN,  # photo links in events are absolute
    }


@pytest.fixture
async def sender(ctx: AppContext) -> AsyncIterator[WebhookDispatcher]:
    """The dispatcher a ``send-webhooks`` process runs, here in the test's own loop."""
    dispatcher = WebhookDispatcher(WebhookSender(ctx.settings), ctx.settings)
    dispatcher.start()
    yield dispatcher
    await dispatcher.stop()


@pytest.fixture
async def no_webhook_left(app: Any) -> AsyncIterator[None]:
    """Used by every database test here: its webhooks end with it, so no later test's sender
    tries them."""
    yield
    await (
        WebhookEndpoint.update({WebhookEndpoint.deleted_at: datetime.now(UTC)})
        .where(WebhookEndpoint.deleted_at.is_null())
        .run()
    )
