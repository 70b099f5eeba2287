"""``/api/integration/v1/webhooks``: where the CRM wants events pushed, and how that went."""

from __future__ import annotations

from sanic import Blueprint

webhook_routes = Blueprint("webhooks", url_prefix="/api/integration/v1")
