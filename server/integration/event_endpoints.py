"""``/api/integration/v1/events``: the field's facts in change-log order, for a CRM to poll."""

from __future__ import annotations

from sanic import Blueprint

event_routes = Blueprint("integration_events", url_prefix="/api/integration/v1")
